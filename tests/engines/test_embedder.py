"""LiteLLMEmbedder over the fake server's HTTP path, and as the Flock's default embedder."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from engines import EMBEDDING_MODEL_ENV, LiteLLMEmbedder
from flock_core import Flock
from flock_core.agents._semantic import cosine, load_default_embedder
from flock_core.exceptions import ConfigurationError
from flock_core.testing import FakeOpenAIServer, FunctionEngine, hashed_embedding

pytestmark = pytest.mark.anyio


class Ticket(BaseModel):
    body: str


class Reply(BaseModel):
    text: str


def new_flock(**options: Any) -> Flock:
    flock = Flock(engine=FunctionEngine(lambda r: [Reply(text="refund handled")]), **options)
    flock.register_type(Ticket)
    flock.register_type(Reply)
    return flock


async def test_embeds_through_litellm_in_input_order(fake_openai: FakeOpenAIServer) -> None:
    embedder = LiteLLMEmbedder("openai/fake-embedding", api_base=fake_openai.base_url, api_key="test-key")
    vectors = await embedder.embed(["I want a refund", "refund request", "login broken"])

    assert vectors == [
        hashed_embedding("I want a refund"),
        hashed_embedding("refund request"),
        hashed_embedding("login broken"),
    ]
    assert (cosine(vectors[0], vectors[1]), cosine(vectors[0], vectors[2])) == (pytest.approx(0.5), 0.0)
    assert fake_openai.embedding_requests == [["I want a refund", "refund request", "login broken"]]


async def test_a_flock_routes_by_meaning_over_http(fake_openai: FakeOpenAIServer) -> None:
    embedder = LiteLLMEmbedder("openai/fake-embedding", api_base=fake_openai.base_url, api_key="test-key")
    flock = new_flock(embedder=embedder)
    flock.agent("refunds").consumes(Ticket, semantic="refund request", threshold=0.5).publishes(Reply)
    await flock.publish(Ticket(body="please refund my order"))
    await flock.publish(Ticket(body="the login page is down"))
    await flock.run_until_idle()

    assert [r.text for r in await flock.store.get_by_type(Reply)] == ["refund handled"]
    assert fake_openai.embedding_requests == [
        ["please refund my order", "refund request"],
        ["the login page is down"],
    ]


async def test_an_unreachable_server_rejects_instead_of_matching() -> None:
    with FakeOpenAIServer() as server:
        base_url = server.base_url
    embedder = LiteLLMEmbedder("openai/fake-embedding", api_base=base_url, api_key="k", num_retries=0, timeout=5)
    flock = new_flock(embedder=embedder)
    flock.agent("refunds").consumes(Ticket, semantic="refund request").publishes(Reply)
    await flock.publish(Ticket(body="please refund my order"))
    await flock.run_until_idle()

    assert await flock.store.get_by_type(Reply) == []
    [rejection] = flock.rejections
    assert rejection.reason.startswith("semantic match 'refund request' failed: the embedder raised ")


def test_the_default_embedder_comes_from_the_entry_point() -> None:
    assert isinstance(load_default_embedder(), LiteLLMEmbedder)


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        (None, "semantic subscriptions need an embedding model: pass Flock(embedder=LiteLLMEmbedder("),
        ("openai/text-embedding-3-small", "real model requests are disabled"),
    ],
)
async def test_the_default_embedder_refuses_without_a_model_or_permission(
    monkeypatch: pytest.MonkeyPatch, model: str | None, expected: str
) -> None:
    if model is None:
        monkeypatch.delenv(EMBEDDING_MODEL_ENV, raising=False)
    else:
        monkeypatch.setenv(EMBEDDING_MODEL_ENV, model)
    flock = new_flock()
    flock.agent("refunds").consumes(Ticket, semantic="refund request").publishes(Reply)
    await flock.publish(Ticket(body="please refund my order"))
    await flock.run_until_idle()

    [rejection] = flock.rejections
    assert f"the embedder raised ConfigurationError: {expected}" in rejection.reason
    with pytest.raises(ConfigurationError):
        await LiteLLMEmbedder().embed(["x"])
