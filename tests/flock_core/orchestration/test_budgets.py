"""Budgets: enforced before each engine call, stopping only their workflow, durable across a restart.

Each test runs on the memory store and on a SQLite file.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import anyio
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic import BaseModel

from flock_core import (
    ArtifactCount,
    BlackboardStore,
    Budget,
    BudgetLimit,
    EvaluationRequest,
    EvaluationResult,
    Flock,
    Usage,
    WorkflowError,
)
from flock_core.blackboard.sqlite._store import SQLiteBlackboardStore
from flock_core.exceptions import ConfigurationError
from flock_core.testing import VirtualClock

pytestmark = pytest.mark.anyio

CALL = Usage(input_tokens=100, output_tokens=20, calls=1, cost=0.01)


class Claim(BaseModel):
    round: int


class Reply(BaseModel):
    round: int


class Model:
    """A model that answers each claim with a reply and each reply with a claim, for ever; it counts calls."""

    def __init__(self, clock: VirtualClock | None = None, pause: float = 0.0) -> None:
        self.calls: dict[str, int] = {}
        self.clock = clock
        self.pause = pause

    async def evaluate(self, request: EvaluationRequest) -> EvaluationResult:
        payload = request.payloads[0]
        self.calls[request.inputs[0].correlation_id] = self.calls.get(request.inputs[0].correlation_id, 0) + 1
        if self.pause:
            await anyio.sleep(self.pause)
        if self.clock is not None:
            self.clock.advance(timedelta(seconds=10))
        out = Reply(round=payload.round) if isinstance(payload, Claim) else Claim(round=payload.round + 1)  # pyright: ignore[reportAttributeAccessIssue]
        return EvaluationResult([out], usage=CALL)


def debate(model: Model, **options: object) -> Flock:
    flock = Flock(engine=model, **options)  # pyright: ignore[reportArgumentType]
    flock.register_type(Claim)
    flock.register_type(Reply)
    flock.agent("pro").consumes(Claim).publishes(Reply)
    flock.agent("con").consumes(Reply).publishes(Claim)
    return flock


async def error_types(flock: Flock, correlation_id: str) -> list[str]:
    return [e.error_type for e in await flock.get_by_type(WorkflowError, correlation_id=correlation_id)]


async def test_a_workflow_budget_stops_its_workflow_before_the_call_over_it(store: BlackboardStore) -> None:
    model = Model()
    flock = debate(model, store=store, max_agent_iterations=20)
    limited = await flock.publish(Claim(round=0), budget=Budget(max_calls=5))
    free = await flock.publish(Claim(round=0))
    await flock.run_until_idle()
    assert model.calls == {limited.correlation_id: 5, free.correlation_id: 40}
    status = await flock.get_correlation_status(limited.correlation_id)
    assert status.state == "cancelled"
    assert status.usage == Usage(500, 100, 5, 0.05)
    assert status.budget is not None
    assert status.budget.spent == status.usage
    assert status.budget.remaining == {"max_calls": 0}
    assert status.budget.exceeded == BudgetLimit("max_calls", 5, 5)
    assert status.flock_budget is None
    assert status.cancel_reason is not None
    assert "max_calls=5 reached" in status.cancel_reason
    assert await error_types(flock, limited.correlation_id) == ["BudgetExceeded"]
    other = await flock.get_correlation_status(free.correlation_id)
    assert other.budget is None
    assert await error_types(flock, free.correlation_id) == ["CircuitBreakerTripped"]


@pytest.mark.parametrize(
    ("budget", "calls", "limit"),
    [
        (Budget(max_tokens=400), 4, "max_tokens"),  # 120 tokens a call: 360 < 400, then 480
        (Budget(max_input_tokens=250), 3, "max_input_tokens"),
        (Budget(max_output_tokens=40), 2, "max_output_tokens"),
        (Budget(max_cost=0.025), 3, "max_cost"),
        (Budget(max_calls=0), 0, "max_calls"),
    ],
)
async def test_each_limit_stops_the_workflow_once_reached(budget: Budget, calls: int, limit: str) -> None:
    model = Model()
    flock = debate(model)
    published = await flock.publish(Claim(round=0), budget=budget)
    await flock.run_until_idle()
    assert sum(model.calls.values()) == calls
    status = await flock.get_correlation_status(published.correlation_id)
    assert status.budget is not None
    assert status.budget.exceeded is not None
    assert status.budget.exceeded.name == limit
    assert status.state == "cancelled"


async def test_wall_time_counts_from_the_workflows_start(store: BlackboardStore) -> None:
    clock = VirtualClock()
    model = Model(clock)  # each call takes ten (virtual) seconds
    flock = debate(model, store=store, clock=clock)
    published = await flock.publish(Claim(round=0), budget=Budget(max_wall_time=25))
    await flock.run_until_idle()
    assert sum(model.calls.values()) == 3  # started at 0, 10 and 20 s; at 30 s the budget is spent
    status = await flock.get_correlation_status(published.correlation_id)
    assert status.budget is not None
    assert status.budget.elapsed == 30.0
    assert status.budget.remaining == {"max_wall_time": 0}


async def test_the_flocks_budget_bounds_every_workflow_together(store: BlackboardStore) -> None:
    model = Model(pause=0.001)
    flock = debate(model, store=store, budget=Budget(max_calls=7))
    first = await flock.publish(Claim(round=0))
    second = await flock.publish(Claim(round=0))
    await flock.run_until_idle()
    assert sum(model.calls.values()) == 7  # calls are reserved: concurrent activations never pass the limit
    for published in (first, second):
        status = await flock.get_correlation_status(published.correlation_id)
        assert status.flock_budget is not None
        assert status.flock_budget.spent.calls == 7
        assert status.state == "cancelled"
        assert await error_types(flock, published.correlation_id) == ["BudgetExceeded"]


async def test_concurrent_activations_of_one_workflow_never_pass_max_calls(store: BlackboardStore) -> None:
    model = Model(pause=0.01)
    flock = Flock(engine=model, store=store)
    flock.register_type(Claim)
    flock.register_type(Reply)
    for name in ("a", "b", "c", "d"):
        flock.agent(name).consumes(Claim).publishes(Reply)
    published = await flock.publish(Claim(round=0), budget=Budget(max_calls=2))
    await flock.run_until_idle()
    assert sum(model.calls.values()) == 2
    assert await error_types(flock, published.correlation_id) == ["BudgetExceeded"]  # reported once


async def test_spending_survives_a_restart_on_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "board.db"
    first_model = Model()
    first = debate(first_model, store=SQLiteBlackboardStore(path))
    published = await first.publish(Claim(round=0), budget=Budget(max_calls=5))
    met = await first.run_until(ArtifactCount(Reply, 2, published.correlation_id), cancel_rest=False)
    assert met
    assert sum(first_model.calls.values()) == 3
    await first.shutdown()

    second_model = Model()
    second = debate(second_model, store=SQLiteBlackboardStore(path))
    await second.run_until_idle()
    assert sum(second_model.calls.values()) == 2  # the resumed workflow had 2 calls left of 5
    status = await second.get_correlation_status(published.correlation_id)
    assert status.budget is not None
    assert status.budget.spent == Usage(500, 100, 5, 0.05)
    assert status.state == "cancelled"
    await second.shutdown()


async def test_publishing_a_new_budget_keeps_what_the_workflow_spent(store: BlackboardStore) -> None:
    model = Model()
    flock = debate(model, store=store)
    published = await flock.publish(Claim(round=0), budget=Budget(max_calls=2))
    await flock.run_until_idle()
    await flock.publish(Claim(round=9), correlation_id="fresh", budget=Budget(max_calls=1))
    status = await flock.get_correlation_status(published.correlation_id)
    assert status.budget is not None
    assert status.budget.spent.calls == 2
    fresh = await flock.get_correlation_status("fresh")
    assert fresh.budget is not None
    assert fresh.budget.limit == Budget(max_calls=1)


async def test_activation_spans_carry_usage_and_what_is_left() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    flock = debate(Model(), tracer_provider=provider, budget=Budget(max_cost=1.0))
    await flock.publish(Claim(round=0), budget=Budget(max_calls=2))
    await flock.run_until_idle()
    spans = [s for s in exporter.get_finished_spans() if s.name.startswith("invoke_agent")]
    attributes = [dict(s.attributes or {}) for s in spans]
    assert attributes[0]["flock.usage.calls"] == 1
    assert attributes[0]["flock.usage.cost"] == 0.01
    assert attributes[0]["flock.budget.remaining.workflow.max_calls"] == 1
    assert attributes[0]["flock.budget.remaining.flock.max_cost"] == pytest.approx(0.99)
    assert attributes[-1]["error.type"] == "BudgetExceeded"


def test_budgets_are_checked_where_they_are_given() -> None:
    with pytest.raises(ConfigurationError, match=r"Budget\(max_calls=1.5\): a limit is an int >= 0"):
        Budget(max_calls=1.5)  # pyright: ignore[reportArgumentType]
    with pytest.raises(ConfigurationError, match=r"Budget\(max_cost=-1\)"):
        Budget(max_cost=-1)
    with pytest.raises(ConfigurationError, match=r"Budget\(max_wall_time=True\)"):
        Budget(max_wall_time=True)
    with pytest.raises(ConfigurationError, match=r"Flock\(budget=...\) takes a flock_core.Budget"):
        Flock(budget={"max_calls": 3})  # pyright: ignore[reportArgumentType]


async def test_publish_refuses_what_is_not_a_budget() -> None:
    flock = debate(Model())
    with pytest.raises(ConfigurationError, match=r"publish\(budget=...\) takes a flock_core.Budget"):
        await flock.publish(Claim(round=0), budget=5)  # pyright: ignore[reportArgumentType]


async def test_the_default_loop_guard_stops_an_endless_debate_at_100_activations_per_agent() -> None:
    model = Model()
    flock = debate(model)
    published = await flock.publish(Claim(round=0))
    await flock.run_until_idle()
    assert sum(model.calls.values()) == 200
    [error] = await flock.get_by_type(WorkflowError, correlation_id=published.correlation_id)
    assert error.error_type == "CircuitBreakerTripped"
    assert "reached max_agent_iterations=100 in this workflow" in error.message
    assert "Flock(max_agent_iterations=...)" in error.message
