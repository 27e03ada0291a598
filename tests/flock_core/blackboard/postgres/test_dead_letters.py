"""Retries and dead letters on PostgreSQL with two workers: retries wait in the store, replays run anywhere."""

from __future__ import annotations

from collections import Counter

import anyio
import pytest
from pydantic import BaseModel

from flock_core import Backoff, EvaluationRequest, Flock, WorkflowError, WorkStatus
from flock_core.blackboard.postgres._store import PostgresBlackboardStore
from flock_core.testing import FunctionEngine

from ...conftest import PG_DSN

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]


class Job(BaseModel):
    n: int


class Done(BaseModel):
    n: int


class Overloaded(Exception):
    status_code = 503


class Model:
    """Fails every job with a 503 while `down`; once `flaky` jobs failed once more, they pass."""

    def __init__(self) -> None:
        self.down = True
        self.calls: Counter[tuple[str, int]] = Counter()

    def engine(self, worker: str) -> FunctionEngine:
        def call(request: EvaluationRequest) -> list[BaseModel]:
            job = request.payloads[0]
            assert isinstance(job, Job)
            self.calls[(worker, job.n)] += 1
            if self.down:
                raise Overloaded(f"503 on job {job.n}")
            return [Done(n=job.n)]

        return FunctionEngine(call)


def worker(store: PostgresBlackboardStore, model: Model, name: str) -> Flock:
    flock = Flock(store=store, engine=model.engine(name), lease=2)
    flock.register_type(Job)
    flock.register_type(Done)
    flock.agent("finish").consumes(Job).publishes(Done).retry(attempts=2, backoff=Backoff(0.05, jitter=False))
    return flock


async def until(store: PostgresBlackboardStore, status: WorkStatus, count: int) -> None:
    while len(await store.work((status,))) < count:  # noqa: ASYNC110 - polls the shared store
        await anyio.sleep(0.05)


async def test_dead_letters_and_replay_across_two_workers(pg_schema: str) -> None:
    model = Model()
    stores = [PostgresBlackboardStore(PG_DSN, schema=pg_schema) for _ in range(2)]
    first, second = worker(stores[0], model, "first"), worker(stores[1], model, "second")
    try:
        for n in range(4):
            await first.publish(Job(n=n), correlation_id=f"job-{n}")
        with anyio.fail_after(60):
            async with anyio.create_task_group() as group:
                group.start_soon(lambda: first.run_worker(concurrency=2))
                group.start_soon(lambda: second.run_worker(concurrency=2))
                await until(stores[0], "failed", 4)
                letters = await second.dead_letters()  # the other worker sees every dead letter
                assert sorted(d.correlation_id for d in letters) == [f"job-{n}" for n in range(4)]
                assert {(d.attempts, d.error is not None and d.error.startswith("503")) for d in letters} == {(2, True)}
                assert len(await first.get_by_type(WorkflowError)) == 4

                model.down = False  # the cause is fixed
                assert await second.replay(letters[0].key) is True
                await until(stores[0], "done", 1)
                assert await first.replay_all() == 3
                await until(stores[0], "done", 4)
                group.cancel_scope.cancel()
        assert sorted(d.n for d in await first.get_by_type(Done)) == [0, 1, 2, 3]
        assert await first.dead_letters() == []
        assert sum(model.calls.values()) == 4 * 2 + 4  # two attempts each, then one replay each
    finally:
        for store in stores:
            await store.close()
