"""A failure in one branch of a workflow is recorded there and never takes down the other branches.

One `Topic` fans out to a good agent and to agents that fail in every way a user's code can: an engine that
breaks the protocol (returns a list, `None`, a bare model), a visibility function that returns junk, an output
that cannot be serialised, a listener and a post-publish hook that raise. The run ends normally; the good
branch publishes; each failure is a `WorkflowError` naming the agent and the fix.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import pytest
from pydantic import BaseModel, field_serializer

from flock_core import AgentComponent, AgentSpec, Artifact, EvaluationRequest, EvaluationResult, Flock, WorkflowError
from flock_core.agents._engine import evaluate_checked
from flock_core.exceptions import EngineError
from flock_core.testing import FunctionEngine

pytestmark = pytest.mark.anyio


class Topic(BaseModel):
    name: str


class Note(BaseModel):
    text: str


class Fragile(BaseModel):
    text: str

    @field_serializer("text")
    def _refuse(self, text: str) -> str:
        raise ValueError("cannot serialise this text")


class ReturnsRaw:
    """An engine that breaks the protocol by returning `raw` instead of an `EvaluationResult`."""

    def __init__(self, raw: object) -> None:
        self.raw = raw

    async def evaluate(self, request: EvaluationRequest) -> EvaluationResult:
        return self.raw  # type: ignore[return-value]  # pyright: ignore[reportReturnType]


class RaisingHook(AgentComponent):
    async def on_post_publish(self, agent: AgentSpec, artifacts: Sequence[Artifact]) -> None:
        raise RuntimeError("hook broke")


def note(request: EvaluationRequest) -> list[BaseModel]:
    return [Note(text=f"about {request.payloads[0].name}")]  # pyright: ignore[reportAttributeAccessIssue]


def build() -> Flock:
    flock = Flock(engine=FunctionEngine(note))
    for model in (Topic, Note, Fragile):
        flock.register_type(model)
    flock.agent("good").consumes(Topic).publishes(Note)
    flock.agent("hooked").consumes(Topic).publishes(Note).with_components(RaisingHook())
    flock.agent("list_engine").consumes(Topic).publishes(Note).with_engines(ReturnsRaw([Note(text="x")]))
    flock.agent("none_engine").consumes(Topic).publishes(Note).with_engines(ReturnsRaw(None))
    flock.agent("bare_model").consumes(Topic).publishes(Note).with_engines(ReturnsRaw(EvaluationResult(Note(text="x"))))  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    flock.agent("junk_visibility").consumes(Topic).publishes(Note, visibility=lambda payload: "private")  # pyright: ignore[reportArgumentType, reportUnknownLambdaType]
    flock.agent("fragile").consumes(Topic).publishes(Fragile).with_engines(
        FunctionEngine(lambda request: [Fragile(text="boom")])  # pyright: ignore[reportUnknownLambdaType]
    )
    return flock


async def test_each_failing_branch_is_recorded_and_the_others_finish(caplog: pytest.LogCaptureFixture) -> None:
    flock = build()

    def broken_listener(artifact: Artifact) -> None:
        raise ZeroDivisionError("listener broke")

    flock.add_listener(broken_listener)
    caplog.set_level(logging.WARNING, "flock_core")
    result = await flock.arun(Topic(name="bees"))
    assert sorted(a.produced_by for a in result.artifacts if a.type == "Note") == ["good", "hooked"]
    errors = {e.agent: e for e in result.get(WorkflowError)}
    assert sorted(errors) == ["bare_model", "fragile", "junk_visibility", "list_engine", "none_engine"]
    assert {agent: e.error_type for agent, e in errors.items()} == {
        "bare_model": "EngineError",
        "fragile": "PydanticSerializationError",
        "junk_visibility": "EngineError",
        "list_engine": "EngineError",
        "none_engine": "EngineError",
    }
    assert "returned list, not an EvaluationResult" in errors["list_engine"].message
    assert "returned NoneType, not an EvaluationResult" in errors["none_engine"].message
    assert "outputs must be a list of models" in errors["bare_model"].message
    assert "visibility function failed" in errors["junk_visibility"].message
    assert "cannot serialise this text" in errors["fragile"].message
    logged = caplog.text
    assert "on_post_publish hook of agent 'hooked' raised" in logged
    assert "listener" in logged
    assert "ZeroDivisionError" in logged
    assert (await flock.get_correlation_status(result.artifacts[0].correlation_id)).state == "failed"


class SyncDuck:
    """Passes as an engine by its attribute, but `evaluate` returns a plain list (no declaration check ran)."""

    def evaluate(self, request: EvaluationRequest) -> Any:
        return [Note(text="x")]


async def test_an_engine_whose_evaluate_is_not_awaitable_is_an_engine_error() -> None:
    request: Any = None
    with pytest.raises(EngineError) as caught:
        await evaluate_checked("bot", SyncDuck(), request)  # pyright: ignore[reportArgumentType]
    assert str(caught.value) == "agent 'bot': SyncDuck.evaluate returned list, not an awaitable: declare it `async def`"


async def test_invoke_raises_the_engine_error_to_the_caller() -> None:
    flock = build()
    with pytest.raises(EngineError, match=r"agent 'none_engine': ReturnsRaw\.evaluate returned NoneType"):
        await flock.invoke("none_engine", Topic(name="x"))
