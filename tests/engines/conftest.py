"""Shared setup for the engine tests: asyncio, no real model requests, and reply formatting helpers."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import BaseModel

from engines import ALLOW_MODEL_REQUESTS_ENV, FLOCK_COMPAT_MODEL_ENV, MODEL_ENV
from flock_core import AgentSpec, Artifact, EvaluationRequest, type_name_of

ChatReply = Callable[..., str]
RequestFactory = Callable[..., EvaluationRequest]


@pytest.fixture
def anyio_backend() -> str:
    """Run `@pytest.mark.anyio` tests on asyncio (DSPy's async path is asyncio-only)."""
    return "asyncio"


@pytest.fixture(autouse=True)
def _no_real_model_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    """Forbid real provider calls and start every test without an ambient model."""
    monkeypatch.setenv(ALLOW_MODEL_REQUESTS_ENV, "0")
    monkeypatch.delenv(MODEL_ENV, raising=False)
    monkeypatch.delenv(FLOCK_COMPAT_MODEL_ENV, raising=False)


def format_chat_reply(**fields: Any) -> str:
    """A reply in DSPy ChatAdapter format: one `[[ ## name ## ]]` section per field, then `completed`.

    Models become JSON objects, lists and dicts JSON, anything else its `str`.
    """
    sections = [f"[[ ## {name} ## ]]\n{_render(value)}" for name, value in fields.items()]
    return "\n\n".join([*sections, "[[ ## completed ## ]]"])


def _render(value: Any) -> str:
    if isinstance(value, BaseModel):
        return value.model_dump_json()
    if isinstance(value, list | dict):
        return json.dumps(value, default=_jsonable)
    return str(value)


def _jsonable(item: object) -> object:
    if isinstance(item, BaseModel):
        return item.model_dump(mode="json")
    raise TypeError(f"cannot render {item!r} as JSON")


@pytest.fixture
def chat_reply() -> ChatReply:
    """`chat_reply(report=Report(...), ...)`: the text a model sends back in ChatAdapter format."""
    return format_chat_reply


def artifact(payload: BaseModel, *, producer: str = "external") -> Artifact:
    """An artifact carrying `payload` under its type name."""
    return Artifact(
        type=type_name_of(type(payload)),
        payload=payload.model_dump(mode="json"),
        produced_by=producer,
        correlation_id="c-1",
    )


def make_request(
    spec: AgentSpec,
    *payloads: BaseModel,
    group_index: int = 0,
    context: tuple[BaseModel, ...] = (),
    **options: Any,
) -> EvaluationRequest:
    """An `EvaluationRequest` for `spec` with `payloads` as inputs (and `context` payloads as context)."""
    return EvaluationRequest(
        agent=spec,
        group=spec.output_groups[group_index],
        group_index=group_index,
        inputs=tuple(artifact(p) for p in payloads),
        payloads=payloads,
        context=tuple(artifact(p, producer="scout") for p in context),
        **options,
    )


@pytest.fixture
def request_for() -> RequestFactory:
    """`request_for(spec, *payloads, context=(...), attempt=1, model="offline", ...)`."""
    return make_request
