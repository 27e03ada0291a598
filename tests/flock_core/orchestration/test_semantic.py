"""Semantic subscriptions at routing time: matches by meaning, cached embeddings, failures rejected."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from pydantic import BaseModel

from flock_core import Embedder, EvaluationRequest, Flock, PrivateVisibility, Semantic
from flock_core.exceptions import ConfigurationError
from flock_core.testing import FunctionEngine, HashedEmbedder

pytestmark = pytest.mark.anyio


class Ticket(BaseModel):
    subject: str
    body: str


class Reply(BaseModel):
    text: str


def answer(request: EvaluationRequest) -> list[BaseModel]:
    ticket = request.payloads[0]
    assert isinstance(ticket, Ticket)
    return [Reply(text=f"{request.agent.name}: {ticket.subject}")]


def new_flock(embedder: Embedder) -> Flock:
    flock = Flock(engine=FunctionEngine(answer), embedder=embedder)
    flock.register_type(Ticket)
    flock.register_type(Reply)
    return flock


def make_flock(embedder: HashedEmbedder | None = None) -> tuple[Flock, HashedEmbedder]:
    embedder = embedder or HashedEmbedder()
    flock = new_flock(embedder)
    flock.agent("refunds").consumes(Ticket, semantic="refund money back", threshold=0.4).publishes(Reply)
    flock.agent("access").consumes(Ticket, semantic="login password locked", threshold=0.4).publishes(Reply)
    return flock, embedder


async def replies(flock: Flock) -> list[str]:
    return sorted(r.text for r in await flock.store.get_by_type(Reply))


async def test_tickets_reach_the_agent_whose_query_they_mean() -> None:
    flock, _ = make_flock()
    refund = await flock.publish(Ticket(subject="double charge", body="I want my money back, a refund"))
    await flock.publish(Ticket(subject="locked out", body="my password does not work at login"))
    await flock.run_until_idle()

    assert await replies(flock) == ["access: locked out", "refunds: double charge"]
    rejected = {(r.agent, r.artifact_id == refund.id): r.reason for r in flock.rejections}
    assert set(rejected) == {("access", True), ("refunds", False)}
    assert rejected["access", True] == (
        "semantic similarity 0.000 to 'login password locked' is below the threshold 0.4"
    )


async def test_each_artifact_and_query_is_embedded_once() -> None:
    flock, embedder = make_flock()
    flock.agent("audit").consumes(Ticket, semantic="refund money back", threshold=-1.0).publishes(Reply)
    await flock.publish(Ticket(subject="refund", body="money back please"))
    await flock.run_until_idle()

    assert embedder.texts == [["refund\nmoney back please", "refund money back", "login password locked"]]


async def test_an_embedder_error_rejects_with_the_reason() -> None:
    class Broken:
        async def embed(self, texts: Sequence[str]) -> list[list[float]]:
            raise RuntimeError("model server down")

    flock = new_flock(Broken())
    flock.agent("refunds").consumes(Ticket, semantic="refund").publishes(Reply)
    ticket = await flock.publish(Ticket(subject="refund", body="refund"))
    await flock.run_until_idle()

    assert await replies(flock) == []
    assert [(r.agent, r.artifact_id, r.reason) for r in flock.rejections] == [
        ("refunds", ticket.id, "semantic match 'refund' failed: the embedder raised RuntimeError: model server down")
    ]


async def test_wrong_number_of_vectors_is_a_failure_not_a_match() -> None:
    class Short:
        async def embed(self, texts: Sequence[str]) -> list[list[float]]:
            return [[1.0]]

    flock = new_flock(Short())
    flock.agent("refunds").consumes(Ticket, semantic="refund").publishes(Reply)
    await flock.publish(Ticket(subject="refund", body="refund"))
    await flock.run_until_idle()

    assert await replies(flock) == []
    assert [r.reason for r in flock.rejections] == [
        "semantic match 'refund' failed: the embedder returned 1 vectors for 2 texts"
    ]


async def test_an_artifact_the_agent_cannot_see_is_never_embedded() -> None:
    flock, embedder = make_flock()
    await flock.publish(
        Ticket(subject="secret refund", body="card 4242 money back"),
        visibility=PrivateVisibility(agents=frozenset({"someone-else"})),
    )
    await flock.run_until_idle()

    assert embedder.texts == []
    assert [r.reason for r in flock.rejections] == ["not visible to the agent", "not visible to the agent"]


async def test_a_condition_on_one_field() -> None:
    embedder = HashedEmbedder()
    flock = new_flock(embedder)
    condition = Semantic("refund", threshold=0.9, field="subject")
    flock.agent("refunds").consumes(Ticket, semantic=condition).publishes(Reply)
    await flock.publish(Ticket(subject="refund", body="the login page is slow"))
    await flock.publish(Ticket(subject="login", body="refund refund refund"))
    await flock.publish(Ticket(subject="", body="refund"))
    await flock.run_until_idle()

    assert await replies(flock) == ["refunds: refund"]
    assert [r.reason for r in flock.rejections] == [
        "semantic similarity 0.000 to 'refund' (field 'subject') is below the threshold 0.9",
        "semantic match 'refund' (field 'subject') failed: field 'subject' has no text to compare by meaning",
    ]


async def test_a_where_rejection_is_reported_before_the_semantic_one() -> None:
    embedder = HashedEmbedder()
    flock = new_flock(embedder)
    flock.agent("refunds").consumes(Ticket, where=lambda t: t.subject != "spam", semantic="refund").publishes(Reply)
    await flock.publish(Ticket(subject="spam", body="refund"))
    await flock.run_until_idle()

    assert [r.reason for r in flock.rejections] == ["where= predicate returned false"]


def test_an_embedder_without_async_embed_is_refused_at_creation() -> None:
    class Sync:
        def embed(self, texts: Sequence[str]) -> list[list[float]]:
            return [[1.0] for _ in texts]

    with pytest.raises(ConfigurationError) as caught:
        Flock(embedder=Sync())  # pyright: ignore[reportArgumentType]
    assert str(caught.value).startswith("Flock(embedder=...) takes an Embedder (async def embed), got ")
