"""`Flock.idle`: whether `run_until_idle()` would find anything to do (a server skips the run when not)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from opentelemetry.sdk.trace import TracerProvider
from pydantic import BaseModel

from flock_core import AfterVisibility, BatchSpec, Budget, EvaluationRequest, Flock
from flock_core.exceptions import PayloadValidationError
from flock_core.testing import FunctionEngine, VirtualClock

pytestmark = pytest.mark.anyio


class Idea(BaseModel):
    text: str


class Tag(BaseModel):
    label: str


class Draft(BaseModel):
    text: str


class Note(BaseModel):
    text: str


def draft(request: EvaluationRequest) -> list[BaseModel]:
    return [Draft(text="drafted")]


def make_flock(**options: object) -> Flock:
    flock = Flock(engine=FunctionEngine(draft), **options)  # type: ignore[arg-type]
    for model in (Idea, Tag, Draft, Note):
        flock.register_type(model)
    return flock


async def test_a_publish_nobody_consumes_leaves_a_prepared_flock_idle() -> None:
    flock = make_flock()
    flock.agent("writer").consumes(Idea).publishes(Draft)
    assert not flock.idle  # no run has prepared these declarations yet
    await flock.run_until_idle()
    assert flock.idle
    await flock.publish(Note(text="for the record"))
    assert flock.idle
    assert [n.text for n in await flock.get_by_type(Note)] == ["for the record"]


async def test_queued_work_and_new_declarations_are_not_idle() -> None:
    flock = make_flock()
    await flock.run_until_idle()
    flock.agent("writer").consumes(Idea).publishes(Draft)
    assert not flock.idle  # a run saves the new declarations' fingerprints (and arms their timers)
    await flock.run_until_idle()
    await flock.publish(Idea(text="queued"))
    assert not flock.idle
    await flock.run_until_idle()
    assert flock.idle
    assert await flock.get_by_type(Draft) == [Draft(text="drafted")]


async def test_inputs_held_in_a_gate_or_a_batch_are_not_idle() -> None:
    flock = make_flock()
    flock.agent("joiner").consumes(Idea, Tag).publishes(Draft)
    flock.agent("packer").consumes(Note, batch=BatchSpec(size=3)).publishes(Draft)
    await flock.run_until_idle()
    idea = await flock.publish(Idea(text="waits for a tag"))
    assert not flock.idle  # the gate holds it
    await flock.publish(Tag(label="t"), correlation_id=idea.correlation_id)
    await flock.run_until_idle()
    assert flock.idle
    await flock.publish(Note(text="one of three"))
    assert not flock.idle  # a run flushes a partial batch when idle
    await flock.run_until_idle()
    assert flock.idle


async def test_a_delayed_artifact_or_an_open_workflow_span_is_not_idle() -> None:
    flock = make_flock(clock=VirtualClock())
    flock.agent("writer").consumes(Idea).publishes(Draft)
    await flock.run_until_idle()
    await flock.publish(Idea(text="later"), visibility=AfterVisibility(ttl=timedelta(hours=1)))
    assert not flock.idle
    await flock.run_until_idle()
    assert flock.idle

    traced = make_flock(tracer_provider=TracerProvider())
    await traced.run_until_idle()
    await traced.publish(Note(text="opens a workflow span"))
    assert not traced.idle  # a run ends the span of a workflow with nothing left to do
    await traced.run_until_idle()
    assert traced.idle


async def test_an_invalid_publish_leaves_no_budget_behind() -> None:
    flock = make_flock()
    with pytest.raises(PayloadValidationError):
        await flock.publish({"type": "Note", "payload": {}}, correlation_id="w", budget=Budget(max_calls=1))
    assert (await flock.get_correlation_status("w")).budget is None
