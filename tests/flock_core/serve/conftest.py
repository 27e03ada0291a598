"""Shared fixtures of the serving tests: a small Flock, identities, and an HTTP client on the ASGI app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from enum import StrEnum

import httpx
import pytest
from pydantic import BaseModel, Field
from starlette.applications import Starlette

from flock_core import AgentIdentity, EvaluationRequest, Flock
from flock_core.serve import ApiKeys, create_app
from flock_core.testing import FunctionEngine


class Mood(StrEnum):
    HAPPY = "happy"
    SAD = "sad"


class Question(BaseModel):
    """Something to answer."""

    text: str = Field(min_length=1)
    priority: int = Field(default=1, ge=0, le=5)
    mood: Mood = Mood.HAPPY
    tags: list[str] = Field(default_factory=list[str])
    urgent: bool = False


class Answer(BaseModel):
    text: str


def answer(request: EvaluationRequest) -> list[BaseModel]:
    """The question in capitals, streamed word by word while someone listens for tokens."""
    question = request.payloads[0]
    assert isinstance(question, Question)
    text = question.text.upper()
    if request.on_token is not None:
        for word in text.split(" "):
            request.on_token(word + " ")
    return [Answer(text=text)]


def make_flock() -> Flock:
    """A Flock with `Question -> answerer -> Answer`."""
    flock = Flock(engine=FunctionEngine(answer))
    flock.register_type(Question)
    flock.register_type(Answer)
    flock.agent("answerer").description("Answers questions.").consumes(Question).publishes(Answer)
    return flock


ALICE = AgentIdentity("alice", tenant="acme")
BOB = AgentIdentity("bob", tenant="globex")
ADMIN = AgentIdentity("admin", labels=frozenset({"clearance:high"}))
KEYS = ApiKeys({"alice-key": ALICE, "bob-key": BOB, "admin-key": ADMIN})


def key(name: str) -> dict[str, str]:
    """The headers of a caller using one of `KEYS`."""
    return {"Authorization": f"Bearer {name}-key"}


def client_for(app: Starlette) -> httpx.AsyncClient:
    """An HTTP client talking to `app` in process."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://localhost")


@pytest.fixture
def flock() -> Flock:
    return make_flock()


@pytest.fixture
async def client(flock: Flock) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an open app (`auth=None`: every caller is anonymous)."""
    async with client_for(create_app(flock)) as http:
        yield http


@pytest.fixture
async def keyed(flock: Flock) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app with API keys for alice (tenant acme), bob (tenant globex) and admin (labelled)."""
    async with client_for(create_app(flock, auth=KEYS)) as http:
        yield http
