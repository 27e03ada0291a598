"""A conversation over DSPyEngine and the fake OpenAI server's HTTP path: the history reaches the prompt."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from engines import DSPyEngine
from flock_core import Flock, TenantVisibility
from flock_core.testing import ChatRequest, FakeOpenAIServer

from .conftest import format_chat_reply

pytestmark = pytest.mark.anyio


class CustomerMessage(BaseModel):
    text: str


class SupportReply(BaseModel):
    text: str


def reply_to(request: ChatRequest) -> str:
    """Answer the latest customer message, quoting it, in ChatAdapter format."""
    prompt = str(request.messages[-1]["content"])
    section = prompt.rsplit("[[ ## customer_message ## ]]", 1)[1].strip().split("\n\n", 1)[0]
    latest = CustomerMessage.model_validate_json(section.strip()).text
    return format_chat_reply(support_reply=SupportReply(text=f"answer to {latest}"))


async def test_the_earlier_turns_reach_the_model_and_another_tenants_never_do() -> None:
    with FakeOpenAIServer(reply_to) as server:
        engine = DSPyEngine("openai/gpt-4.1-mini", api_base=server.base_url, api_key="sk-fake")
        flock = Flock(engine=engine)
        flock.register_type(CustomerMessage)
        flock.register_type(SupportReply)
        flock.agent("support").tenant("acme").description("Help the customer.").consumes(CustomerMessage).publishes(
            SupportReply
        ).with_history()
        chat = flock.conversation("ticket-9")
        acme = TenantVisibility(tenant_id="acme")
        first = await chat.send(CustomerMessage(text="my parcel 4711 is late"), visibility=acme)
        await flock.publish(
            CustomerMessage(text="globex internal memo"),
            visibility=TenantVisibility(tenant_id="globex"),
            correlation_id="ticket-9",
        )
        second = await chat.send(CustomerMessage(text="any news?"), visibility=acme)
        prompts = [str(r.messages[-1]["content"]) for r in server.requests]

    assert first.reply(SupportReply).text == "answer to my parcel 4711 is late"
    assert second.reply(SupportReply).text == "answer to any news?"
    assert len(prompts) == 2
    assert "[[ ## context ## ]]" not in prompts[0], "the first turn has no history"
    history = prompts[1].rsplit("[[ ## context ## ]]", 1)[1]
    assert '"payload": {"text": "my parcel 4711 is late"}' in history, "the first message is in the second prompt"
    assert '"payload": {"text": "answer to my parcel 4711 is late"}' in history, "so is the agent's own reply"
    assert all("globex internal memo" not in p for p in prompts), "another tenant's turn never reaches the model"
