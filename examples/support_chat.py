"""A support chat: a conversation whose history lives on the blackboard and survives a restart.

The support agent is declared `.with_history()`, so each turn's prompt holds the conversation's earlier
turns (visibility-checked, bounded). The model is `flock_core.testing.FakeOpenAIServer` on loopback, behind
the real `DSPyEngine` HTTP path: it answers from what the prompt shows it, so the third answer (after the
Flock is closed and a new one opens the same SQLite file) proves the history reached the model.
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

import anyio
from pydantic import BaseModel

from engines import DSPyEngine
from flock_core import Flock, SQLiteBlackboardStore
from flock_core.testing import ChatRequest, FakeOpenAIServer


class CustomerMessage(BaseModel):
    text: str


class SupportReply(BaseModel):
    text: str


def support_model(request: ChatRequest) -> str:
    """A stand-in model: it asks for the order number until it finds one in the message or the history."""
    prompt = str(request.messages[-1]["content"])
    orders = re.findall(r"order (\d+)", prompt.rsplit("[[ ## customer_message ## ]]", 1)[-1])
    text = f"Order {orders[-1]} left our depot today." if orders else "Which order is it about?"
    return f"[[ ## support_reply ## ]]\n{json.dumps({'text': text})}\n\n[[ ## completed ## ]]"


def support_flock(board: Path, server: FakeOpenAIServer) -> Flock:
    engine = DSPyEngine("openai/support-model", api_base=server.base_url, api_key="not-needed")
    flock = Flock(engine=engine, store=SQLiteBlackboardStore(board))
    flock.register_type(CustomerMessage)
    flock.register_type(SupportReply)
    flock.agent("support").description("Help the customer with their order.").consumes(CustomerMessage).publishes(
        SupportReply
    ).with_history(max_turns=20)
    return flock


async def say(flock: Flock, text: str) -> None:
    turn = await flock.conversation("ticket-1042").send(CustomerMessage(text=text))
    print(f"customer: {text}")
    print(f"support:  {turn.reply(SupportReply).text}")


async def main() -> None:
    with FakeOpenAIServer(support_model) as server, tempfile.TemporaryDirectory() as tmp:
        board = Path(tmp) / "support.db"
        async with support_flock(board, server) as flock:
            await say(flock, "Hi, my parcel has not arrived.")
            await say(flock, "It is order 4711.")
        print("-- the support process restarts --")
        async with support_flock(board, server) as flock:
            await say(flock, "Any news?")
            history = await flock.conversation("ticket-1042").history()
        print(f"turns on the board: {len(history)}; model calls: {len(server.requests)}")


if __name__ == "__main__":
    anyio.run(main)
