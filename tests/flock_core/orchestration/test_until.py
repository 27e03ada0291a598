"""Flock's condition builders `Until` and `When`, activation conditions, and timed runs with timers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import BaseModel

from flock_core import EvaluationRequest, Flock, PrivateVisibility, SQLiteBlackboardStore, Until, When
from flock_core.exceptions import AgentDeclarationError, ConfigurationError, RunTimeoutError
from flock_core.testing import FunctionEngine, VirtualClock

pytestmark = pytest.mark.anyio

START = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)


class Question(BaseModel):
    topic: str


class Hypothesis(BaseModel):
    content: str
    confidence: float


class SecurityReport(BaseModel):
    passed: bool


class StyleReport(BaseModel):
    passed: bool


class FinalReview(BaseModel):
    approved: bool


class Ping(BaseModel):
    n: int


def hypotheses(request: EvaluationRequest) -> list[BaseModel]:
    return [Hypothesis(content=f"h{i}", confidence=i / 4) for i in range(request.group.fan_out.low)]


async def test_until_artifact_count_and_any_field_as_flocks_docs_show_them() -> None:
    flock = Flock(engine=FunctionEngine(hypotheses))
    flock.agent("gen").consumes(Question).publishes(Hypothesis, fan_out=5)
    await flock.publish(Question(topic="aurora"), correlation_id="c1")
    assert await flock.run_until(Until.artifact_count(Hypothesis, correlation_id="c1").at_least(3), timeout=5)
    assert len(await flock.store.get_by_type(Hypothesis, correlation_id="c1")) == 5

    await flock.publish(Question(topic="sky"), correlation_id="c2")
    high = Until.any_field(Hypothesis, field="confidence", predicate=lambda v: v >= 0.9, correlation_id="c2")
    assert await flock.run_until(high | Until.workflow_error("c2"), timeout=5)
    assert not await flock.run_until(Until.artifact_count(Hypothesis, correlation_id="c2").at_least(6), timeout=5)


async def test_until_counts_bounds_and_negations() -> None:
    flock = Flock(engine=FunctionEngine(hypotheses))
    flock.register_type(FinalReview)
    flock.agent("gen").consumes(Question).publishes(Hypothesis, fan_out=2)
    await flock.publish(Question(topic="t"), correlation_id="c")
    await flock.run_until_idle()
    count = Until.artifact_count(Hypothesis, correlation_id="c")
    results = [
        await flock.run_until(condition)
        for condition in (
            count.exactly(2),
            count.at_most(1),
            count.at_least(1).at_most(2),
            Until.exists(Hypothesis),
            Until.none(Hypothesis, correlation_id="c"),
            Until.none(FinalReview),
            Until.idle() & Until.no_pending_work(),
            Until.artifact_count(Hypothesis, produced_by="someone else").at_least(1),
        )
    ]
    assert results == [True, False, True, True, False, True, True, False]
    assert str(count.at_least(1).at_most(2)) == "count(Hypothesis) >= 1 & <= 2"
    with pytest.raises(ConfigurationError, match="at_least needs a count >= 0, got -1"):
        count.at_least(-1)


def review_flock() -> Flock:
    flock = Flock(engine=FunctionEngine(review_engine))
    flock.register_type(StyleReport)
    return flock


def review_engine(request: EvaluationRequest) -> list[BaseModel]:
    model = request.group.models[0]
    return [FinalReview(approved=True) if model is FinalReview else model(passed=True)]


async def test_when_defers_an_activation_until_its_condition_holds_in_the_workflow() -> None:
    flock = review_flock()
    flock.agent("security").consumes(Question).publishes(SecurityReport)
    flock.agent("style").consumes(SecurityReport).publishes(StyleReport)
    flock.agent("final").consumes(
        SecurityReport,
        activation=When.correlation(SecurityReport).exists() & When.correlation(StyleReport).exists(),
    ).publishes(FinalReview)
    other = await flock.publish(StyleReport(passed=False))  # another workflow's report does not count
    await flock.publish(Question(topic="code"), correlation_id="c")
    await flock.run_until_idle()
    # SecurityReport arrived before StyleReport: the activation waited instead of being dropped
    assert len(await flock.store.get_by_type(FinalReview, correlation_id="c")) == 1
    assert await flock.store.get_by_type(FinalReview, correlation_id=other.correlation_id) == []
    assert flock._core.deferred.waiting() == 0  # pyright: ignore[reportPrivateUsage]


async def test_an_unmet_activation_condition_keeps_waiting_and_runs_when_it_becomes_true() -> None:
    flock = review_flock()
    flock.agent("final").consumes(SecurityReport, activation=When.correlation(StyleReport).count_at_least(2)).publishes(
        FinalReview
    )
    await flock.publish(SecurityReport(passed=True), correlation_id="c")
    await flock.publish(StyleReport(passed=True), correlation_id="c")
    await flock.run_until_idle()
    assert await flock.store.get_by_type(FinalReview) == []
    status = await flock.get_correlation_status("c")
    assert (status.state, status.waiting_gate_inputs) == ("completed", 1)
    await flock.publish(StyleReport(passed=False), correlation_id="c")
    await flock.run_until_idle()
    assert await flock.store.get_by_type(FinalReview) == [FinalReview(approved=True)]


async def test_a_condition_declared_after_the_first_steps_holds_its_activations() -> None:
    flock = review_flock()
    flock.agent("first").consumes(SecurityReport).publishes(StyleReport)  # no condition yet: nothing is held
    await flock.publish(SecurityReport(passed=True), correlation_id="before")
    await flock.run_until_idle()
    condition = When.correlation(StyleReport).count_at_least(2)
    flock.agent("final").consumes(SecurityReport, activation=condition).publishes(FinalReview)
    await flock.publish(SecurityReport(passed=True), correlation_id="c")
    await flock.run_until_idle()
    assert await flock.store.get_by_type(FinalReview) == []  # one StyleReport in "c", from "first"
    assert flock._core.deferred.waiting() == 1  # pyright: ignore[reportPrivateUsage]
    await flock.publish(StyleReport(passed=True), correlation_id="c")
    await flock.run_until_idle()
    assert await flock.store.get_by_type(FinalReview) == [FinalReview(approved=True)]


async def test_an_activation_condition_counts_only_what_the_agent_may_see() -> None:
    flock = review_flock()
    flock.agent("final").consumes(SecurityReport, activation=When.correlation(StyleReport).exists()).publishes(
        FinalReview
    )
    await flock.publish(
        StyleReport(passed=True), correlation_id="c", visibility=PrivateVisibility(agents=frozenset({"x"}))
    )
    await flock.publish(SecurityReport(passed=True), correlation_id="c")
    await flock.run_until_idle()
    assert await flock.store.get_by_type(FinalReview) == []


async def test_a_field_activation_condition_that_raises_rejects_with_the_reason() -> None:
    flock = review_flock()
    condition = When.correlation(StyleReport).any_field(field="passed", predicate=lambda v: v < 1 / 0)
    flock.agent("final").consumes(SecurityReport, activation=condition).publishes(FinalReview)
    await flock.publish(StyleReport(passed=True), correlation_id="c")
    artifact = await flock.publish(SecurityReport(passed=True), correlation_id="c")
    await flock.run_until_idle()
    assert await flock.store.get_by_type(FinalReview) == []
    assert [(r.agent, r.artifact_id, r.reason) for r in flock.rejections] == [
        ("final", artifact.id, "activation condition raised ZeroDivisionError: division by zero")
    ]


def test_activation_must_be_a_condition() -> None:
    flock = Flock()
    with pytest.raises(AgentDeclarationError, match="activation= must be a condition"):
        flock.agent("a").consumes(Question, activation="soon")  # pyright: ignore[reportArgumentType]


async def test_run_until_idle_with_a_timeout_keeps_unbounded_timers_firing_until_it() -> None:
    clock = VirtualClock(START)
    ticks: list[datetime] = []

    def ping(request: EvaluationRequest) -> list[BaseModel]:
        assert request.tick is not None
        ticks.append(request.tick.scheduled_at)
        return [Ping(n=request.tick.number)]

    flock = Flock(engine=FunctionEngine(ping), clock=clock)
    flock.agent("monitor").schedule(every=timedelta(seconds=30), after=timedelta(0)).publishes(Ping)
    await flock.run_until_idle(timeout=100)
    assert ticks == [START + timedelta(seconds=s) for s in (0, 30, 60, 90)]
    await flock.run_until_idle()  # without a timeout, unbounded timers do not keep the run alive
    assert len(ticks) == 4


async def test_run_until_idle_without_timers_still_raises_on_timeout() -> None:
    async def slow(request: EvaluationRequest) -> list[BaseModel]:
        import anyio

        await anyio.sleep(0.3)
        return [Ping(n=1)]

    flock = Flock(engine=FunctionEngine(slow), max_concurrency=1)
    flock.agent("w").consumes(Question).publishes(Ping)
    await flock.publish_many([Question(topic="a"), Question(topic="b")])
    with pytest.raises(RunTimeoutError, match=r"within 0\.05 s"):
        await flock.run_until_idle(timeout=0.05)
    # the running activation finished, the queued one waits for the next run: nothing is lost
    assert sorted(r.status for r in await flock.store.work()) == ["done", "pending"]
    await flock.run_until_idle()
    assert len(await flock.store.get_by_type(Ping)) == 2


@pytest.mark.postgres
async def test_activation_conditions_are_refused_on_a_shared_store() -> None:
    from ..conftest import postgres_store

    store = postgres_store()
    try:
        flock = Flock(store=store)
        with pytest.raises(ConfigurationError, match="work on a local board, not yet on a shared store"):
            flock.agent("final").consumes(SecurityReport, activation=When.correlation(StyleReport).exists())
    finally:
        await store.close()


async def test_a_held_activation_is_held_again_after_a_restart(tmp_path: Path) -> None:
    def build() -> Flock:
        flock = Flock(engine=FunctionEngine(review_engine), store=SQLiteBlackboardStore(tmp_path / "board.db"))
        flock.register_type(StyleReport)
        flock.agent("final").consumes(SecurityReport, activation=When.correlation(StyleReport).exists()).publishes(
            FinalReview
        )
        return flock

    first = build()
    await first.publish(SecurityReport(passed=True), correlation_id="c")
    await first.run_until_idle()
    await first.shutdown()
    second = build()
    await second.start()
    assert (await second.get_correlation_status("c")).waiting_gate_inputs == 1
    await second.publish(StyleReport(passed=True), correlation_id="c")
    await second.run_until_idle()
    assert await second.store.get_by_type(FinalReview) == [FinalReview(approved=True)]
    await second.shutdown()
