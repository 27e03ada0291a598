"""`/api/v1/conversations`: a chat turn as the authenticated caller, replies and history through its visibility."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import BaseModel

from flock_core import EvaluationRequest, Flock
from flock_core.serve import create_app
from flock_core.serve._schemas import ConversationPage, TurnResponse
from flock_core.testing import FunctionEngine

from .conftest import KEYS, Answer, Question, client_for, key

pytestmark = pytest.mark.anyio


def answer_with_memory(request: EvaluationRequest) -> list[BaseModel]:
    question = request.payloads[0]
    assert isinstance(question, Question)
    remembered = [str(a.payload["text"]) for a in request.context]
    return [Answer(text=f"{question.text.upper()} (after {remembered})")]


@pytest.fixture
async def chat() -> AsyncIterator[httpx.AsyncClient]:
    """An app with API keys and one support agent per tenant, each with history, run by its worker."""
    flock = Flock(engine=FunctionEngine(answer_with_memory))
    flock.register_type(Question)
    flock.register_type(Answer)
    flock.agent("acme_support").tenant("acme").consumes(Question).publishes(Answer).with_history()
    flock.agent("globex_support").tenant("globex").consumes(Question).publishes(Answer).with_history()
    app = create_app(flock, auth=KEYS, drive="api")
    async with app.router.lifespan_context(app), client_for(app) as http:
        yield http


def say(text: str, **extra: object) -> dict[str, object]:
    return {"type": "Question", "payload": {"text": text}, **extra}


async def test_a_turn_returns_the_reply_with_the_history_the_agent_saw(chat: httpx.AsyncClient) -> None:
    first = await chat.post("/api/v1/conversations/c-1/turns", json=say("hello"), headers=key("alice"))
    assert first.status_code == 200, first.text
    body = TurnResponse.model_validate(first.json())
    assert (body.conversation_id, body.state, body.settled) == ("c-1", "completed", True)
    assert body.message.produced_by == "api:alice@acme"
    assert [r.payload["text"] for r in body.replies] == ["HELLO (after [])"]

    second = await chat.post("/api/v1/conversations/c-1/turns", json=say("again"), headers=key("alice"))
    replies = TurnResponse.model_validate(second.json()).replies
    assert [r.payload["text"] for r in replies] == ["AGAIN (after ['hello', 'HELLO (after [])'])"]

    history = await chat.get("/api/v1/conversations/c-1", headers=key("alice"))
    page = ConversationPage.model_validate(history.json())
    assert page.total == 4
    assert [a.payload["text"] for a in page.items][::2] == ["hello", "again"]


async def test_another_tenant_can_neither_join_nor_read_a_conversation(chat: httpx.AsyncClient) -> None:
    await chat.post("/api/v1/conversations/private/turns", json=say("acme secret"), headers=key("alice"))
    joined = await chat.post("/api/v1/conversations/private/turns", json=say("let me in"), headers=key("bob"))
    assert joined.status_code == 404
    assert joined.json()["error"]["code"] == "not_found"
    read = await chat.get("/api/v1/conversations/private", headers=key("bob"))
    assert read.status_code == 404
    own = await chat.post("/api/v1/conversations/bobs/turns", json=say("globex question"), headers=key("bob"))
    assert [r["payload"]["text"] for r in own.json()["replies"]] == ["GLOBEX QUESTION (after [])"]
    alice_view = await chat.get("/api/v1/conversations/private", headers=key("alice"))
    assert "let me in" not in alice_view.text


async def test_the_caller_cannot_publish_what_it_could_not_see_or_reserved_tags(chat: httpx.AsyncClient) -> None:
    wider = say("x", visibility={"kind": "private", "agents": ["acme_support"], "tenant": "acme"})
    assert (await chat.post("/api/v1/conversations/c/turns", json=wider, headers=key("alice"))).status_code == 403
    unauth = await chat.post("/api/v1/conversations/c/turns", json=say("x"))
    assert unauth.status_code == 401
    bad = await chat.post("/api/v1/conversations/c/turns", json=say("x", wait_seconds=1000), headers=key("alice"))
    assert bad.status_code == 422
    tagged = {"type": "Question", "payload": {"text": "x"}, "tags": ["flock:turn"]}
    refused = await chat.post("/api/v1/artifacts", json=tagged, headers=key("alice"))
    assert (refused.status_code, refused.json()["error"]["code"]) == (422, "reserved_tag")
    long_id = "x" * 201
    assert (await chat.get(f"/api/v1/conversations/{long_id}", headers=key("alice"))).status_code == 422


async def test_a_turn_that_outlasts_its_wait_answers_202_and_a_cancelled_one_409() -> None:
    flock = Flock(engine=FunctionEngine(answer_with_memory))
    flock.register_type(Question)
    flock.register_type(Answer)
    flock.agent("support").consumes(Question).publishes(Answer)
    app = create_app(flock, drive="never")
    async with app.router.lifespan_context(app), client_for(app) as http:
        pending = await http.post("/api/v1/conversations/slow/turns", json=say("hi", wait_seconds=0))
        assert pending.status_code == 202
        assert (pending.json()["settled"], pending.json()["replies"]) == (False, [])
        await flock.cancel("slow", reason="closed by support")
        closed = await http.post("/api/v1/conversations/slow/turns", json=say("hi"))
        assert (closed.status_code, closed.json()["error"]["code"]) == (409, "conversation_closed")
