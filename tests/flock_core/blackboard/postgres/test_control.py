"""Cancelling a workflow on PostgreSQL with two workers: both stop their running calls, nothing is stored."""

from __future__ import annotations

from collections import Counter

import anyio
import pytest
from pydantic import BaseModel

from flock_core import EvaluationRequest, Flock
from flock_core.blackboard.postgres._store import PostgresBlackboardStore
from flock_core.testing import FunctionEngine

from ...conftest import PG_DSN

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]


class Question(BaseModel):
    n: int


class Answer(BaseModel):
    n: int


class BlockingModel:
    """An engine whose calls wait until cancelled, counting calls and cancellations per worker."""

    def __init__(self) -> None:
        self.started: Counter[str] = Counter()
        self.cancelled: Counter[str] = Counter()
        self.both_running = anyio.Event()
        self.both_cancelled = anyio.Event()

    def engine(self, worker: str) -> FunctionEngine:
        async def call(request: EvaluationRequest) -> list[BaseModel]:
            self.started[worker] += 1
            if len(self.started) == 2:
                self.both_running.set()
            try:
                await anyio.sleep_forever()
            except anyio.get_cancelled_exc_class():
                self.cancelled[worker] += 1
                if len(self.cancelled) == 2:
                    self.both_cancelled.set()
                raise
            return [Answer(n=0)]  # pragma: no cover - never reached

        return FunctionEngine(call)


def worker(store: PostgresBlackboardStore, model: BlockingModel, name: str) -> Flock:
    flock = Flock(store=store, engine=model.engine(name), lease=0.6)
    flock.register_type(Question)
    flock.register_type(Answer)
    flock.agent("answerer").consumes(Question).publishes(Answer)
    return flock


async def test_cancel_stops_the_workflow_on_both_workers(pg_schema: str) -> None:
    model = BlockingModel()
    stores = [PostgresBlackboardStore(PG_DSN, schema=pg_schema) for _ in range(2)]
    first, second = worker(stores[0], model, "first"), worker(stores[1], model, "second")
    try:
        for n in range(4):
            await first.publish(Question(n=n), correlation_id="survey")
        with anyio.fail_after(30):
            async with anyio.create_task_group() as group:
                group.start_soon(lambda: first.run_worker(concurrency=1))
                group.start_soon(lambda: second.run_worker(concurrency=1))
                await model.both_running.wait()
                assert await first.cancel("survey", reason="answers no longer needed") == 4
                await model.both_cancelled.wait()  # the second worker stops at its next lease renewal
                group.cancel_scope.cancel()
        assert (model.started, model.cancelled) == (Counter(first=1, second=1), Counter(first=1, second=1))
        assert await second.get_by_type(Answer) == []
        assert [r.status for r in await stores[1].work()] == ["cancelled"] * 4
        status = await second.get_correlation_status("survey")
        assert (status.state, status.cancel_reason) == ("cancelled", "answers no longer needed")
    finally:
        for store in stores:
            await store.close()
