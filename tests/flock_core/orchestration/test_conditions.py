"""`run_until` and its condition language."""

from __future__ import annotations

import anyio
import pytest
from pydantic import BaseModel

from flock_core import ArtifactCount, EvaluationRequest, Exists, Flock, Idle, WorkflowFailed
from flock_core.testing import FunctionEngine

pytestmark = pytest.mark.anyio


class Task(BaseModel):
    n: int


class Result(BaseModel):
    n: int


def make_flock(delay: float = 0.0) -> Flock:
    async def engine(request: EvaluationRequest) -> list[BaseModel]:
        task = request.payloads[0]
        assert isinstance(task, Task)
        if task.n < 0:
            raise ValueError("negative")
        await anyio.sleep(delay)
        return [Result(n=task.n * 10)]

    flock = Flock(engine=FunctionEngine(engine), max_concurrency=1)
    flock.register_type(Task)
    flock.register_type(Result)
    flock.agent("worker").consumes(Task).publishes(Result)
    return flock


async def test_stops_when_count_reached_and_resumes_later_when_the_rest_is_kept() -> None:
    flock = make_flock()
    await flock.publish_many([Task(n=i) for i in range(10)])
    assert await flock.run_until(ArtifactCount(Result, at_least=3), timeout=5, cancel_rest=False)
    assert 3 <= len(await flock.store.get_by_type(Result)) < 10
    await flock.run_until_idle()
    assert len(await flock.store.get_by_type(Result)) == 10


async def test_a_condition_naming_no_workflow_cancels_every_unfinished_one() -> None:
    flock = make_flock()
    await flock.publish_many([Task(n=i) for i in range(10)])
    assert await flock.run_until(ArtifactCount(Result, at_least=3), timeout=5)
    stopped = len(await flock.store.get_by_type(Result))
    await flock.run_until_idle()
    assert 3 <= len(await flock.store.get_by_type(Result)) == stopped < 10
    cancelled = {r.correlation_id for r in await flock.store.work(("cancelled",))}
    assert len(cancelled) == 10 - stopped


async def test_count_per_correlation() -> None:
    flock = make_flock()
    await flock.publish(Task(n=1), correlation_id="a")
    await flock.publish(Task(n=2), correlation_id="b")
    assert await flock.run_until(ArtifactCount(Result, correlation_id="b"), timeout=5)
    assert await flock.store.get_by_type(Result, correlation_id="b") == [Result(n=20)]


async def test_field_predicate_and_combinators() -> None:
    flock = make_flock()
    await flock.publish_many([Task(n=i) for i in range(5)])
    big = Exists(Result, where=lambda r: r.n >= 30)
    assert await flock.run_until(big & ~Exists(Result, where=lambda r: r.n > 100), timeout=5)
    assert max(r.n for r in await flock.store.get_by_type(Result)) >= 30


async def test_workflow_failed_or_idle() -> None:
    flock = make_flock()
    await flock.publish(Task(n=-1))
    assert await flock.run_until(WorkflowFailed(agent="worker") | ArtifactCount(Result, at_least=99), timeout=5)


async def test_idle_condition_and_unreachable_condition_returns_false() -> None:
    flock = make_flock()
    await flock.publish(Task(n=1))
    assert await flock.run_until(Idle(), timeout=5)
    assert not await flock.run_until(ArtifactCount(Result, at_least=2), timeout=5)


async def test_timeout_returns_false_lets_running_work_finish_and_leaves_queued_work_pending() -> None:
    flock = make_flock(delay=0.2)
    await flock.publish_many([Task(n=1), Task(n=2)])
    assert not await flock.run_until(ArtifactCount(Result, at_least=2), timeout=0.05, cancel_rest=False)
    assert sorted(r.status for r in await flock.store.work()) == ["done", "pending"]
    await flock.run_until_idle(timeout=5)
    assert sorted(r.n for r in await flock.store.get_by_type(Result)) == [10, 20]


def test_conditions_render_readably() -> None:
    condition = (ArtifactCount(Result, at_least=2) & ~WorkflowFailed()) | Idle()
    assert str(condition) == "((count(Result) >= 2 & ~workflow_failed) | idle)"
