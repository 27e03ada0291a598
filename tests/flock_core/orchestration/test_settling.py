"""Settled workflows leave no per-workflow state behind, and forgetting it changes nothing they need.

Each test that touches the store runs on the memory store and on a SQLite file. The bounds are counts of
entries (`Orchestrator.bookkeeping`), never times or bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from pydantic import BaseModel

from flock_core import (
    ApprovalRejected,
    ArtifactCount,
    BlackboardStore,
    Budget,
    BudgetLimit,
    EvaluationRequest,
    EvaluationResult,
    Flock,
    SQLiteBlackboardStore,
    Usage,
    WorkflowError,
)
from flock_core.orchestration import _settling
from flock_core.testing import FunctionEngine

pytestmark = pytest.mark.anyio


@dataclass(frozen=True, slots=True)
class Bookkeeping:
    """How much per-workflow state a Flock keeps (flat under a steady stream of workflows)."""

    routed_pairs: int
    loop_guard: int
    usage: int
    budgets: int
    open_spans: int


CALL = Usage(input_tokens=10, output_tokens=5, calls=1, cost=0.001)
NOTHING = Bookkeeping(routed_pairs=0, loop_guard=0, usage=0, budgets=0, open_spans=0)


class Topic(BaseModel):
    n: int


class Draft(BaseModel):
    n: int


class Review(BaseModel):
    n: int


class Claim(BaseModel):
    round: int


class Counted:
    """A priced model for the pipeline Topic -> Draft -> Review; counts its calls per (agent, input)."""

    def __init__(self) -> None:
        self.calls: dict[tuple[str, int], int] = {}

    def __call__(self, request: EvaluationRequest) -> EvaluationResult:
        payload = request.payloads[0]
        n: int = payload.n  # pyright: ignore[reportAttributeAccessIssue]
        key = (request.agent.name, n)
        self.calls[key] = self.calls.get(key, 0) + 1
        output = Draft(n=n) if isinstance(payload, Topic) else Review(n=n)
        return EvaluationResult([output], usage=CALL)


def pipeline(model: Counted, **options: object) -> Flock:
    flock = Flock(engine=FunctionEngine(model), **options)  # pyright: ignore[reportArgumentType]
    for type_ in (Topic, Draft, Review):
        flock.register_type(type_)
    flock.agent("writer").consumes(Topic).publishes(Draft)
    flock.agent("reviewer").consumes(Draft).publishes(Review)
    return flock


def kept(flock: Flock) -> Bookkeeping:
    core = flock._core  # pyright: ignore[reportPrivateUsage]
    return Bookkeeping(
        routed_pairs=core._routing.routed_pairs(),  # pyright: ignore[reportPrivateUsage]
        loop_guard=core._executor.guarded(),  # pyright: ignore[reportPrivateUsage]
        usage=core._executor.usage_kept(),  # pyright: ignore[reportPrivateUsage]
        budgets=len(core.budgets.workflows()),
        open_spans=len(core.tracer.open_workflows),
    )


async def test_settled_workflows_leave_nothing_behind(store: BlackboardStore) -> None:
    model = Counted()
    flock = pipeline(model, store=store, tracer_provider=TracerProvider())
    first = await flock.publish(Topic(n=0), budget=Budget(max_calls=10))
    for n in range(1, 200):
        await flock.publish(Topic(n=n), budget=Budget(max_calls=10) if n % 2 else None)
    await flock.run_until_idle()
    assert kept(flock) == NOTHING
    assert set(model.calls.values()) == {1}  # each agent ran once on each input
    assert len(model.calls) == 400
    status = await flock.get_correlation_status(first.correlation_id)  # read after it was forgotten
    assert (status.state, status.usage) == ("completed", CALL + CALL)
    assert status.budget is not None
    assert status.budget.spent == CALL + CALL


async def test_a_stream_under_back_pressure_keeps_bounded_state(
    store: BlackboardStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_settling, "SWEEP_EVERY", 8)
    model = Counted()
    flock = pipeline(model, store=store, max_pending=10, tracer_provider=TracerProvider())
    for n in range(400):
        await flock.publish(Topic(n=n))  # never idle in between: only sweeps while it runs forget
    during = kept(flock)
    await flock.run_until_idle()
    assert len(model.calls) == 800
    assert set(model.calls.values()) == {1}
    # a few sweeps' worth of workflows, not one entry per input (400 workflows, 800 routed pairs)
    assert during.loop_guard <= 60
    assert during.usage <= 60
    assert during.routed_pairs <= 120
    assert during.open_spans <= 60
    assert kept(flock) == NOTHING


async def test_the_loop_guard_still_stops_an_endless_loop_while_sweeps_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_settling, "SWEEP_EVERY", 1)  # a sweep after every activation

    def answer(request: EvaluationRequest) -> list[BaseModel]:
        payload = request.payloads[0]
        if isinstance(payload, Topic):
            return [Draft(n=payload.n)]
        if isinstance(payload, Claim):
            return [Review(n=payload.round)]
        return [Claim(round=payload.n + 1)]  # pyright: ignore[reportAttributeAccessIssue]

    flock = Flock(engine=FunctionEngine(answer), max_agent_iterations=20)
    for type_ in (Claim, Review, Topic, Draft):
        flock.register_type(type_)
    flock.agent("pro").consumes(Claim).publishes(Review)
    flock.agent("con").consumes(Review).publishes(Claim)  # answers pro for ever
    flock.agent("once").consumes(Topic).publishes(Draft)
    await flock.publish(Claim(round=0), correlation_id="endless")
    for n in range(5):  # other workflows settle meanwhile, and are forgotten
        await flock.publish(Topic(n=n))
    await flock.run_until_idle()
    [error] = await flock.get_by_type(WorkflowError, correlation_id="endless")
    assert error.error_type == "CircuitBreakerTripped"
    assert len(await flock.get_by_type(Review, correlation_id="endless")) == 20  # pro ran 20 times, then tripped


async def test_a_workflow_that_runs_again_after_it_settled_keeps_its_budget_and_usage(store: BlackboardStore) -> None:
    model = Counted()
    flock = pipeline(model, store=store)
    await flock.publish(Topic(n=0), correlation_id="chat", budget=Budget(max_calls=5))
    await flock.run_until_idle()
    assert kept(flock) == NOTHING  # settled: its account and usage were forgotten
    await flock.publish(Topic(n=1), correlation_id="chat")  # the next turn: 2 more calls, 4 in all
    await flock.run_until_idle()
    await flock.publish(Topic(n=2), correlation_id="chat")  # 1 call left: the writer runs, the reviewer may not
    await flock.run_until_idle()
    assert (model.calls.get(("writer", 2)), model.calls.get(("reviewer", 2))) == (1, None)
    status = await flock.get_correlation_status("chat")
    assert status.state == "cancelled"
    assert status.usage == Usage(50, 25, 5, 0.005)
    assert status.budget is not None
    assert status.budget.spent == status.usage
    assert status.budget.exceeded == BudgetLimit("max_calls", 5, 5)
    assert [e.error_type for e in await flock.get_by_type(WorkflowError, correlation_id="chat")] == ["BudgetExceeded"]


async def test_a_restart_after_sweeps_runs_nothing_again(tmp_path: Path) -> None:
    model = Counted()
    flock = pipeline(model, store=SQLiteBlackboardStore(tmp_path / "board.db"))
    for n in range(20):
        await flock.publish(Topic(n=n))
    await flock.run_until_idle()
    await flock.shutdown()
    again = pipeline(model, store=SQLiteBlackboardStore(tmp_path / "board.db"))
    await again.run_until_idle()
    await again.publish(Topic(n=20))
    await again.run_until_idle()
    assert len(model.calls) == 42
    assert set(model.calls.values()) == {1}
    await again.shutdown()


class Brief(BaseModel):
    topic: str


async def test_run_until_cancelling_the_rest_rejects_held_outputs() -> None:
    flock = Flock(engine=FunctionEngine(lambda r: [Draft(n=1)]))
    flock.register_type(Brief)
    flock.register_type(Draft)
    flock.agent("writer").consumes(Brief).publishes(Draft).requires_approval(["editor"])
    await flock.publish(Brief(topic="tides"), correlation_id="news")
    assert not await flock.run_until(ArtifactCount(Draft, 1, correlation_id="news"), timeout=10)
    assert await flock.approvals() == []  # the cancelled workflow's held draft is not left to approve
    [rejected] = await flock.get_by_type(ApprovalRejected, correlation_id="news")
    assert rejected.rejected_by == "cancel"
    assert await flock.get_by_type(Draft) == []
    assert (await flock.get_correlation_status("news")).state == "cancelled"


def endless(**options: object) -> Flock:
    def answer(request: EvaluationRequest) -> list[BaseModel]:
        payload = request.payloads[0]
        if isinstance(payload, Claim):
            return [Review(n=payload.round)]
        return [Claim(round=payload.n + 1)]  # pyright: ignore[reportAttributeAccessIssue]

    flock = Flock(engine=FunctionEngine(answer), max_agent_iterations=20, **options)  # pyright: ignore[reportArgumentType]
    for type_ in (Claim, Review):
        flock.register_type(type_)
    flock.agent("pro").consumes(Claim).publishes(Review)
    flock.agent("con").consumes(Review).publishes(Claim)
    return flock


async def test_a_paused_workflow_has_not_settled(store: BlackboardStore) -> None:
    flock = endless(store=store)
    await flock.publish(Claim(round=0), correlation_id="endless")
    assert await flock.run_until(ArtifactCount(Review, 5, correlation_id="endless"), cancel_rest=False)
    await flock.pause("endless")
    await flock.run_until_idle()  # idle: a sweep runs, and must keep the paused loop's counts
    assert kept(flock).loop_guard == 1
    await flock.resume("endless")
    await flock.run_until_idle()
    [error] = await flock.get_by_type(WorkflowError, correlation_id="endless")
    assert error.error_type == "CircuitBreakerTripped"
    assert len(await flock.get_by_type(Review, correlation_id="endless")) == 20  # 20 in all, not 20 after the pause
