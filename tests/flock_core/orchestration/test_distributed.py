"""Distributed mode on a shared in-process store: one router, several workers claiming leased work."""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta

import anyio
import pytest
from opentelemetry.sdk.trace import TracerProvider
from pydantic import BaseModel

from flock_core import BlackboardStore, EvaluationRequest, Flock, InMemoryBlackboardStore, JoinSpec
from flock_core.blackboard._shared import Renewal
from flock_core.exceptions import ConfigurationError
from flock_core.orchestration._router import SharedBoard
from flock_core.testing import FunctionEngine

pytestmark = pytest.mark.anyio


def shared_board(flock: Flock) -> SharedBoard:
    """The board strategy of a Flock on a shared store (tests change its lease)."""
    board = flock._core.board
    assert isinstance(board, SharedBoard)
    return board


class Job(BaseModel):
    n: int


class Part(BaseModel):
    n: int
    i: int


class Done(BaseModel):
    n: int


class Order(BaseModel):
    order_id: int


class Payment(BaseModel):
    order_id: int


class Shipment(BaseModel):
    order_id: int


def declare(store: BlackboardStore, calls: Counter[str], tracer_provider: TracerProvider | None = None) -> Flock:
    async def engine(request: EvaluationRequest) -> list[BaseModel]:
        calls[f"{request.agent.name}:{sorted(str(a.id) for a in request.inputs)}"] += 1
        await anyio.sleep(0.001)
        first = request.payloads[0]
        if request.agent.name == "split":
            assert isinstance(first, Job)
            return [Part(n=first.n, i=i) for i in range(2)]
        if request.agent.name == "finish":
            assert isinstance(first, Part)
            return [Done(n=first.n)]
        assert isinstance(first, Order | Payment)
        return [Shipment(order_id=first.order_id)]

    flock = Flock(store=store, engine=FunctionEngine(engine), max_concurrency=4, tracer_provider=tracer_provider)
    for model in (Job, Part, Done, Order, Payment, Shipment):
        flock.register_type(model)
    flock.agent("split").consumes(Job).publishes(Part, fan_out=2)
    flock.agent("finish").consumes(Part).publishes(Done)
    join = JoinSpec(by=lambda p: p.order_id, within=timedelta(minutes=5))
    flock.agent("ship").consumes(Order, Payment, join=join).publishes(Shipment)
    return flock


def workers(store: InMemoryBlackboardStore, count: int, calls: Counter[str]) -> list[Flock]:
    return [declare(store, calls) for _ in range(count)]


async def test_every_activation_runs_exactly_once_across_workers() -> None:
    store = InMemoryBlackboardStore(shared=True)
    calls: Counter[str] = Counter()
    a, b, c = workers(store, 3, calls)
    await a.publish_many([Job(n=i) for i in range(40)])
    ran: Counter[str] = Counter()
    with anyio.fail_after(20):
        async with anyio.create_task_group() as group:
            for flock in (a, b, c):

                async def drive(flock: Flock = flock) -> None:
                    await flock.run_until_idle()
                    ran[flock.worker_id] += 1

                group.start_soon(drive)
    assert len(await a.get_by_type(Done)) == 80
    assert len(await a.get_by_type(Part)) == 80
    assert all(count == 1 for count in calls.values())
    assert len(calls) == 40 + 80
    assert len(ran) == 3
    state = await store.board_state()
    assert state.settled


async def test_cross_process_join_fires_once() -> None:
    store = InMemoryBlackboardStore(shared=True)
    calls: Counter[str] = Counter()
    a, b = workers(store, 2, calls)
    await a.publish(Order(order_id=7))
    await b.publish(Payment(order_id=7))
    with anyio.fail_after(10):
        async with anyio.create_task_group() as group:
            group.start_soon(a.run_until_idle)
            group.start_soon(b.run_until_idle)
    assert await a.get_by_type(Shipment) == [Shipment(order_id=7)]
    assert sum(1 for k in calls if k.startswith("ship:")) == 1


async def test_new_router_takes_over_and_abandoned_lease_is_reclaimed() -> None:
    store = InMemoryBlackboardStore(shared=True)
    calls: Counter[str] = Counter()
    crashed, survivor = workers(store, 2, calls)
    shared_board(crashed).lease = timedelta(seconds=0)
    await crashed.publish(Job(n=1))
    await crashed.publish(Order(order_id=1))
    await crashed._core.pull(1)
    [leased] = await store.work(("leased",))
    assert leased.lease_owner == crashed.worker_id
    store.resign(crashed.worker_id)
    await survivor.publish(Payment(order_id=1))
    with anyio.fail_after(10):
        await survivor.run_until_idle()
    assert await survivor.get_by_type(Shipment) == [Shipment(order_id=1)]
    assert len(await survivor.get_by_type(Done)) == 2
    record = {r.key: r for r in await store.work()}[leased.key]
    assert (record.status, record.attempts, record.lease_owner) == ("done", 2, survivor._core.worker_id)
    assert all(count == 1 for count in calls.values())


class Slow(BaseModel):
    seconds: float


class Rested(BaseModel):
    worker: str


def sleepers(store: InMemoryBlackboardStore, count: int, runs: Counter[str], lease: float) -> list[Flock]:
    """Flocks whose one agent sleeps as long as its input says, counting each run by work key."""

    async def engine(request: EvaluationRequest) -> list[BaseModel]:
        first = request.payloads[0]
        assert isinstance(first, Slow)
        runs[str(request.inputs[0].id)] += 1
        await anyio.sleep(first.seconds)
        return [Rested(worker=request.agent.name)]

    made: list[Flock] = []
    for _ in range(count):
        flock = Flock(store=store, engine=FunctionEngine(engine), lease=lease)
        flock.register_type(Slow)
        flock.register_type(Rested)
        flock.agent("sleeper").consumes(Slow).publishes(Rested)
        made.append(flock)
    return made


async def test_a_running_activation_keeps_its_lease_beyond_the_lease_length() -> None:
    store = InMemoryBlackboardStore(shared=True)
    runs: Counter[str] = Counter()
    first, second = sleepers(store, 2, runs, lease=0.3)
    await first.publish(Slow(seconds=1.2))  # four leases long
    with anyio.fail_after(20):
        async with anyio.create_task_group() as group:
            group.start_soon(first.run_until_idle)
            await anyio.sleep(0.1)
            group.start_soon(second.run_until_idle)
    assert list(runs.values()) == [1], "renewed every third of a lease: nobody else claimed it"
    assert len(await first.get_by_type(Rested)) == 1
    [record] = await store.work()
    assert (record.status, record.attempts) == ("done", 1)


async def test_a_lost_lease_is_reported_and_the_late_result_is_discarded(caplog: pytest.LogCaptureFixture) -> None:
    store = InMemoryBlackboardStore(shared=True)
    runs: Counter[str] = Counter()
    stalled, other = sleepers(store, 2, runs, lease=30)
    board = shared_board(stalled)
    board.lease = timedelta(0)  # a process that stalls past its lease
    await stalled.publish(Slow(seconds=0))
    await stalled._core.pull(1)
    [queued] = stalled._core.runtime._ready["sleeper"]
    store.resign(stalled.worker_id)  # ... and so, in the meantime, also lost the router lead
    with anyio.fail_after(10):
        await other.run_until_idle()  # takes the expired lease over and finishes the work
    assert len(await other.get_by_type(Rested)) == 1
    board.lease = timedelta(seconds=30)
    with caplog.at_level("WARNING", logger="flock_core.distributed"):
        await board.renew_leases()
    assert f"lost the lease of 1 work item(s): ['{queued.item.record.key}']" in caplog.text
    finished: list[object] = []
    stalled.events.subscribe(finished.append)
    await stalled._core.run_item(queued.item)  # the stalled process wakes up and finishes late
    assert len(await stalled.get_by_type(Rested)) == 1, "the late outputs were not stored"
    assert [e for e in finished if type(e).__name__ == "ActivationFinished"] == []


class RenewalInFlight(InMemoryBlackboardStore):
    """A shared store whose next lease renewal lets `during` run while the renewal is in flight."""

    during: Callable[[], Awaitable[None]] | None = None

    async def renew(self, keys: Sequence[str], owner: str, lease_until: datetime) -> Renewal:
        during, self.during = self.during, None
        if during is not None:
            await during()
        return await super().renew(keys, owner, lease_until)


async def test_items_finishing_while_their_leases_are_renewed_are_not_reported_lost(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = RenewalInFlight(shared=True)
    runs: Counter[str] = Counter()
    [worker] = sleepers(store, 1, runs, lease=30)
    board = shared_board(worker)
    for _ in range(5):
        await worker.publish(Slow(seconds=0))
    await worker._core.pull(5)  # claimed and queued here: five leases to renew
    assert len(worker._core.runtime.held_keys()) == 5
    store.during = worker.run_until_idle  # all five finish between the renewal's start and its answer
    board._renew_at = None  # due now (the claim above renewed nothing yet)
    with caplog.at_level("WARNING", logger="flock_core.distributed"):
        await board.renew_leases()

    assert "lost the lease" not in caplog.text
    assert [(r.status, r.attempts) for r in await store.work()] == [("done", 1)] * 5
    assert sorted(runs.values()) == [1] * 5


async def test_lease_and_worker_concurrency_are_validated() -> None:
    with pytest.raises(ConfigurationError, match="lease must be positive"):
        Flock(lease=0)
    assert Flock(store=InMemoryBlackboardStore(shared=True), lease=2.5).lease == timedelta(seconds=2.5)
    assert Flock().lease is None
    flock = Flock(store=InMemoryBlackboardStore(shared=True))
    with pytest.raises(ConfigurationError, match="concurrency must be at least 1"):
        await flock.run_worker(concurrency=0)


async def test_drain_stops_claiming_and_returns_when_the_running_work_is_done() -> None:
    store = InMemoryBlackboardStore(shared=True)
    runs: Counter[str] = Counter()
    worker, publisher = sleepers(store, 2, runs, lease=30)
    await publisher.publish_many([Slow(seconds=0.05), Slow(seconds=0)])
    started = anyio.Event()
    worker.events.subscribe(lambda event: started.set() if type(event).__name__ == "ActivationStarted" else None)
    with anyio.fail_after(10):
        async with anyio.create_task_group() as group:
            group.start_soon(lambda: worker.run_worker(concurrency=1))
            await started.wait()
            await worker.drain()
            group.cancel_scope.cancel()
    assert (sum(runs.values()), len(await store.get_by_type(Rested)), len(await store.work(("pending",)))) == (1, 1, 1)
    await Flock().drain()  # nothing runs: returns at once
