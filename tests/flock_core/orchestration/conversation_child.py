"""The support chat that `test_conversation_crash.py` kills with SIGKILL and starts again, on a SQLite file.

Usage: `python conversation_child.py BOARD.db first|second`. `first` answers one turn, then starts a second
turn whose activation prints `blocking` and hangs (the parent kills the process there). `second` resumes
the interrupted turn, then sends a third. Each activation prints `seen TURN CONTEXT-JSON`.
"""

from __future__ import annotations

import json
import sys

import anyio
from pydantic import BaseModel

from flock_core import EvaluationRequest, Flock
from flock_core.blackboard.sqlite._store import SQLiteBlackboardStore
from flock_core.testing import FunctionEngine


class Ask(BaseModel):
    text: str


class Answer(BaseModel):
    text: str


async def main(path: str, lifetime: str) -> None:
    async def answer(request: EvaluationRequest) -> list[BaseModel]:
        question = request.payloads[0]
        assert isinstance(question, Ask)
        print("seen", question.text, json.dumps([a.payload["text"] for a in request.context]), flush=True)
        if lifetime == "first" and question.text == "second":
            print("blocking", flush=True)
            await anyio.sleep(120)
        return [Answer(text=f"re: {question.text}")]

    flock = Flock(engine=FunctionEngine(answer), store=SQLiteBlackboardStore(path))
    flock.register_type(Ask)
    flock.register_type(Answer)
    flock.agent("support").consumes(Ask).publishes(Answer).with_history()
    chat = flock.conversation("support-42")
    async with flock:
        if lifetime == "first":
            turn = await chat.send(Ask(text="first"))
            print("reply", turn.reply(Answer).text, flush=True)
            await chat.send(Ask(text="second"))
        else:
            report = await flock.start()
            print("resumed", report.resumed_work, flush=True)
            await flock.run_until_idle()
            turn = await chat.send(Ask(text="third"))
            print("reply", turn.reply(Answer).text, flush=True)


if __name__ == "__main__":
    anyio.run(main, sys.argv[1], sys.argv[2])
