"""Cancelling workflows: queued and running work stops, the cancellation is durable, observed and traced.

Each test runs on the memory store and on a SQLite file.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import anyio
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic import BaseModel

from flock_core import ArtifactCount, BlackboardStore, EvaluationRequest, Flock
from flock_core.blackboard.sqlite._store import SQLiteBlackboardStore
from flock_core.exceptions import ConfigurationError
from flock_core.orchestration._events import FlockEvent, WorkflowCancelled, WorkflowPaused
from flock_core.testing import FunctionEngine

pytestmark = pytest.mark.anyio


class Topic(BaseModel):
    text: str


class Argument(BaseModel):
    text: str
    round: int = 0


def registered(flock: Flock) -> Flock:
    """`flock` with this module's types registered (on the Flock only, not globally)."""
    flock.register_type(Topic)
    flock.register_type(Argument)
    return flock


class SlowModel:
    """An engine whose calls wait until released, recording which were cancelled mid-call."""

    def __init__(self) -> None:
        self.started = 0
        self.cancelled = 0
        self.running = anyio.Event()
        self.release = anyio.Event()

    async def __call__(self, request: EvaluationRequest) -> list[BaseModel]:
        self.started += 1
        self.running.set()
        try:
            await self.release.wait()
        except anyio.get_cancelled_exc_class():
            self.cancelled += 1
            raise
        return [Argument(text=f"on {request.payloads[0]}")]


async def test_cancel_stops_running_and_queued_work_and_marks_the_workflow(store: BlackboardStore) -> None:
    model = SlowModel()
    flock = registered(Flock(engine=FunctionEngine(model), store=store, max_concurrency=1))
    flock.agent("debater").consumes(Topic).publishes(Argument)
    for text in ("a", "b", "c"):
        await flock.publish(Topic(text=text), correlation_id="debate")
    await flock.publish(Topic(text="kept"), correlation_id="other")

    async def cancel_when_running() -> None:
        await model.running.wait()
        assert await flock.cancel("debate", reason="too expensive") == 3
        model.release.set()

    async with anyio.create_task_group() as group:
        group.start_soon(cancel_when_running)
        await flock.run_until_idle(timeout=10)

    assert (model.started, model.cancelled) == (2, 1), "one call cancelled mid-flight, the other workflow ran"
    assert await flock.get_by_type(Argument, correlation_id="debate") == []
    assert len(await flock.get_by_type(Argument, correlation_id="other")) == 1
    status = await flock.get_correlation_status("debate")
    assert (status.state, status.cancel_reason, status.pending_activations) == ("cancelled", "too expensive", 0)
    assert (await flock.get_correlation_status("other")).state == "completed"
    assert sorted(r.status for r in await store.work() if r.correlation_id == "debate") == ["cancelled"] * 3


async def test_work_published_into_a_cancelled_workflow_never_runs(store: BlackboardStore) -> None:
    calls: list[str] = []
    flock = registered(Flock(engine=FunctionEngine(lambda r: calls.append("x") or [Argument(text="x")]), store=store))
    flock.agent("debater").consumes(Topic).publishes(Argument)
    assert await flock.cancel("debate", reason="stop") == 0

    await flock.publish(Topic(text="late"), correlation_id="debate")
    await flock.run_until_idle(timeout=10)

    assert calls == []
    assert [r.status for r in await store.work()] == ["cancelled"]


async def test_a_cancellation_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "board.db"
    calls: list[str] = []
    engine = FunctionEngine(lambda r: calls.append("x") or [Argument(text="x")])
    async with registered(Flock(engine=engine, store=SQLiteBlackboardStore(path))) as first:
        first.agent("debater").consumes(Topic).publishes(Argument)
        await first.publish(Topic(text="a"), correlation_id="debate")
        assert await first.cancel("debate", reason="stop") == 1

    async with registered(Flock(engine=engine, store=SQLiteBlackboardStore(path))) as second:
        second.agent("debater").consumes(Topic).publishes(Argument)
        assert (await second.start()).resumed_work == 0
        await second.run_until_idle(timeout=10)
        assert calls == []
        assert (await second.get_correlation_status("debate")).cancel_reason == "stop"


def debate(store: BlackboardStore, on_round: Callable[[int], object] = lambda n: None) -> tuple[Flock, list[int]]:
    """Two debaters answering each other forever: only a stop condition or a cancellation ends it.

    `on_round` is called with the number of rounds so far after each one."""
    rounds: list[int] = []

    def answer(request: EvaluationRequest) -> list[BaseModel]:
        (argument,) = request.payloads
        assert isinstance(argument, Argument)
        rounds.append(argument.round)
        on_round(len(rounds))
        return [Argument(text=request.agent.name, round=argument.round + 1)]

    flock = registered(Flock(engine=FunctionEngine(answer), store=store))
    flock.agent("pro").consumes(Argument, where=lambda a: a.round % 2 == 0).publishes(Argument)
    flock.agent("con").consumes(Argument, where=lambda a: a.round % 2 == 1).publishes(Argument)
    return flock, rounds


async def test_run_until_cancels_the_rest_of_the_workflow(store: BlackboardStore) -> None:
    flock, rounds = debate(store)
    await flock.publish(Argument(text="start"), correlation_id="debate")

    assert await flock.run_until(ArtifactCount(Argument, 6, correlation_id="debate"), timeout=10) is True
    stopped_at = len(rounds)
    await flock.arun(Topic(text="an unrelated run"), timeout=10)

    assert len(rounds) == stopped_at, "the next run does not continue the debate"
    assert (await flock.get_correlation_status("debate")).state == "cancelled"


async def test_run_until_keeps_the_rest_when_asked(store: BlackboardStore) -> None:
    flock, rounds = debate(store)
    await flock.publish(Argument(text="start"), correlation_id="debate")

    await flock.run_until(ArtifactCount(Argument, 4, correlation_id="debate"), timeout=10, cancel_rest=False)
    stopped_at = len(rounds)
    await flock.run_until(ArtifactCount(Argument, 8, correlation_id="debate"), timeout=10)

    assert len(rounds) > stopped_at
    assert (await flock.get_correlation_status("debate")).state == "cancelled"


async def test_a_run_until_that_is_itself_cancelled_cancels_nothing(store: BlackboardStore) -> None:
    interrupted = anyio.CancelScope()  # a shutdown or Ctrl-C in the middle of the run, after ten rounds
    flock, rounds = debate(store, on_round=lambda n: n == 10 and interrupted.cancel())
    await flock.publish(Argument(text="start"), correlation_id="debate")

    with interrupted:
        await flock.run_until(ArtifactCount(Argument, 10_000, correlation_id="debate"))
    assert interrupted.cancelled_caught
    stopped_at = len(rounds)

    assert (await flock.get_correlation_status("debate")).state != "cancelled"
    await flock.run_until(ArtifactCount(Argument, stopped_at + 2, correlation_id="debate"), timeout=10)
    assert len(rounds) > stopped_at, "the next run continues the workflow"


async def test_a_cancellation_is_an_event_and_a_span(store: BlackboardStore) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    flock = registered(
        Flock(engine=FunctionEngine(lambda r: [Argument(text="x")]), store=store, tracer_provider=provider)
    )
    flock.agent("debater").consumes(Topic).publishes(Argument)
    events: list[FlockEvent] = []
    flock.events.subscribe(events.append)
    await flock.publish(Topic(text="a"), correlation_id="debate")

    await flock.cancel("debate", reason="user request")

    [cancelled] = [e for e in events if isinstance(e, WorkflowCancelled)]
    assert (cancelled.correlation_id, cancelled.reason, cancelled.work_items) == ("debate", "user request", 1)
    [span] = [s for s in exporter.get_finished_spans() if s.name == "cancel_workflow"]
    assert dict(span.attributes or {}) == {
        "gen_ai.conversation.id": "debate",
        "flock.cancel.reason": "user request",
        "flock.cancel.work_items": 1,
    }


async def test_cancel_without_a_correlation_id_is_a_clear_error() -> None:
    flock = registered(Flock(engine=FunctionEngine(lambda r: [])))
    with pytest.raises(ConfigurationError, match="cancel needs a workflow's correlation id, got ''"):
        await flock.cancel("")


# -- pause and resume ---------------------------------------------------------------------------------


def pipeline(
    store: BlackboardStore, gate: anyio.Event | None = None, drafting: anyio.Event | None = None
) -> tuple[Flock, list[str]]:
    """Topic -> Argument (the `drafter`: sets `drafting`, waits for `gate`) -> Argument round 1 (the `critic`)."""
    calls: list[str] = []

    async def run(request: EvaluationRequest) -> list[BaseModel]:
        calls.append(f"{request.agent.name}:{request.inputs[0].correlation_id}")
        if request.agent.name == "drafter":
            if drafting is not None:
                drafting.set()
            if gate is not None:
                await gate.wait()
            return [Argument(text="draft")]
        return [Argument(text="critique", round=1)]

    flock = registered(Flock(engine=FunctionEngine(run), store=store))
    flock.agent("drafter").consumes(Topic).publishes(Argument)
    flock.agent("critic").consumes(Argument, where=lambda a: a.round == 0).publishes(Argument)
    return flock, calls


async def test_a_paused_workflow_waits_and_others_run(store: BlackboardStore) -> None:
    flock, calls = pipeline(store)
    await flock.publish(Topic(text="a"), correlation_id="held")
    await flock.publish(Topic(text="b"), correlation_id="free")

    await flock.pause("held")
    await flock.run_until_idle(timeout=10)

    assert calls == ["drafter:free", "critic:free"]
    status = await flock.get_correlation_status("held")
    assert (status.state, status.pending_activations) == ("paused", 1)

    await flock.resume("held")
    await flock.run_until_idle(timeout=10)
    assert calls[2:] == ["drafter:held", "critic:held"]
    assert (await flock.get_correlation_status("held")).state == "completed"


async def test_pausing_everything_holds_new_work_until_resumed(store: BlackboardStore) -> None:
    flock, calls = pipeline(store)
    await flock.pause()
    await flock.publish(Topic(text="a"), correlation_id="w")
    await flock.run_until_idle(timeout=10)
    assert calls == []
    assert (await flock.get_correlation_status("w")).state == "paused"

    await flock.resume()
    await flock.run_until_idle(timeout=10)
    assert calls == ["drafter:w", "critic:w"]


async def test_a_running_activation_finishes_and_what_it_routes_waits(store: BlackboardStore) -> None:
    gate, drafting = anyio.Event(), anyio.Event()
    flock, calls = pipeline(store, gate, drafting)
    await flock.publish(Topic(text="a"), correlation_id="w")

    async def pause_while_drafting() -> None:
        await drafting.wait()
        await flock.pause("w")
        gate.set()

    async with anyio.create_task_group() as group:
        group.start_soon(pause_while_drafting)
        await flock.run_until_idle(timeout=10)

    assert calls == ["drafter:w"], "the critic's work waits"
    assert [a.text for a in await flock.get_by_type(Argument, correlation_id="w")] == ["draft"]
    await flock.resume("w")
    await flock.run_until_idle(timeout=10)
    assert calls == ["drafter:w", "critic:w"]


async def test_a_pause_survives_a_restart_and_is_observed(tmp_path: Path) -> None:
    path = tmp_path / "board.db"
    first, calls = pipeline(SQLiteBlackboardStore(path))
    events: list[FlockEvent] = []
    first.events.subscribe(events.append)
    await first.publish(Topic(text="a"), correlation_id="w")
    await first.pause("w")
    await first.shutdown()

    second, calls = pipeline(SQLiteBlackboardStore(path))
    await second.run_until_idle(timeout=10)
    assert calls == []
    await second.resume("w")
    await second.run_until_idle(timeout=10)
    await second.shutdown()

    assert calls == ["drafter:w", "critic:w"]
    assert [(e.correlation_id, e.paused) for e in events if isinstance(e, WorkflowPaused)] == [("w", True)]
