"""An optimization's progress on `flock.events`, and on `flock serve`'s event stream only for callers who may see
every artifact of its runs."""

from __future__ import annotations

from typing import Literal

import pytest
from pydantic import BaseModel

from engines import OptimizationRun, OptimizeOptions, WorkflowExample, WorkflowRun, aoptimize
from flock_core import (
    AgentIdentity,
    EvaluationRequest,
    EvaluationResult,
    Flock,
    FlockEvent,
    OptimizationProgress,
    TenantVisibility,
    Usage,
)
from flock_core.serve import EventFilter
from flock_core.serve._metrics import Metrics
from flock_core.serve._state import ServeState
from flock_core.serve._worker import Worker
from flock_core.testing import FunctionEngine

pytestmark = pytest.mark.anyio


class Ticket(BaseModel):
    text: str


class Label(BaseModel):
    name: Literal["eta", "other"]


def learner(request: EvaluationRequest) -> EvaluationResult:
    """Answers "eta" once a demo is in its prompt."""
    taught = bool(request.learned and request.learned.demos)
    return EvaluationResult(
        [Label(name="eta" if taught or "late" in str(request.payloads[0]) else "other")], Usage(5, 1, 1)
    )


TRAIN = [WorkflowExample(Ticket(text="late order"), "eta"), WorkflowExample(Ticket(text="where is it"), "eta")]


def right(example: WorkflowExample[str], run: WorkflowRun) -> bool:
    label = run.final(Label)
    return label is not None and label.name == example.expected


def build(visibility: TenantVisibility | None = None) -> Flock:
    flock = Flock(engine=FunctionEngine(learner))
    flock.register_type(Ticket)
    flock.register_type(Label)
    flock.agent("triage").consumes(Ticket).publishes(Label, visibility=visibility)
    return flock


async def optimize_recording(flock: Flock) -> list[FlockEvent]:
    events: list[FlockEvent] = []
    flock.events.subscribe(events.append)
    options = OptimizeOptions(optimizer="bootstrap_random_search", num_candidates=1)
    await aoptimize(flock, TRAIN, right, options, valset=TRAIN)
    return events


async def test_progress_is_emitted_at_start_after_each_trial_and_at_the_end() -> None:
    events = await optimize_recording(build())
    progress = [e for e in events if isinstance(e, OptimizationProgress)]
    assert [(p.state, p.trial, p.trials_done) for p in progress] == [
        ("started", None, 0),
        ("running", "training set", 1),
        ("running", "baseline", 2),
        ("running", "bootstrapped", 3),
        ("finished", None, 3),
    ]  # one demo in the pool: no distinct random candidate
    assert progress[2].score == 0.5
    assert progress[-1].best_score == 1.0
    assert progress[-1].calls == 6
    runs = {e.artifact.correlation_id for e in events if e.kind == "artifact_published"}
    assert all(cid.startswith(progress[0].correlation_prefix) for cid in runs)  # the runs are recognisable


async def views(flock: Flock, events: list[FlockEvent], identity: AgentIdentity) -> list[dict[str, object]]:
    state = ServeState(flock, None, 1000, Metrics(), Worker(flock, "never"))
    stream = EventFilter(state, identity)
    shown = [await stream.view(event) for event in events]
    return [view for view in shown if view is not None and view["kind"] == "optimization_progress"]


async def test_the_event_stream_shows_progress_only_to_callers_who_may_see_the_runs() -> None:
    flock = build(TenantVisibility(tenant_id="acme"))
    events = await optimize_recording(flock)
    insider = await views(flock, events, AgentIdentity("alice", tenant="acme"))
    outsider = await views(flock, events, AgentIdentity("bob", tenant="globex"))
    assert [view["state"] for view in insider] == ["started", "running", "running", "running", "finished"]
    assert insider[-1]["best_score"] == 1.0
    assert [view["state"] for view in outsider] == ["started"]  # its first run's label is hidden: nothing more
    late = await views(flock, events[5:], AgentIdentity("alice", tenant="acme"))
    assert late == []  # a stream that did not see it start cannot know what it missed


async def test_a_lagging_stream_withholds_the_rest_of_the_progress() -> None:
    flock = build()
    events = await optimize_recording(flock)
    state = ServeState(flock, None, 1000, Metrics(), Worker(flock, "never"))
    stream = EventFilter(state, AgentIdentity("alice"))
    first = next(i for i, e in enumerate(events) if isinstance(e, OptimizationProgress))
    assert await stream.view(events[first]) is not None
    stream.lagged()
    later = [await stream.view(e) for e in events[first + 1 :] if isinstance(e, OptimizationProgress)]
    assert later == [None] * len(later)


async def test_a_paused_optimization_says_so() -> None:
    flock = build()
    events: list[FlockEvent] = []
    run = OptimizationRun(flock, TRAIN, right)

    def pause_once(event: FlockEvent) -> None:
        events.append(event)
        if isinstance(event, OptimizationProgress) and event.state == "started":
            run.pause()
        if isinstance(event, OptimizationProgress) and event.state == "paused":
            run.resume()

    flock.events.subscribe(pause_once)
    await run.run()
    states = [e.state for e in events if isinstance(e, OptimizationProgress)]
    assert states[:3] == ["started", "paused", "running"]
    assert states[-1] == "finished"
