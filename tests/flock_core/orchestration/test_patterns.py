"""Joins, batches and timers, on a virtual clock (no real sleeps)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from pydantic import BaseModel

from flock_core import BatchSpec, EvaluationRequest, Flock, JoinSpec
from flock_core.exceptions import AgentDeclarationError
from flock_core.testing import FunctionEngine, VirtualClock

pytestmark = pytest.mark.anyio

START = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)


class Order(BaseModel):
    order_id: int


class Payment(BaseModel):
    order_id: int


class Shipment(BaseModel):
    order_ids: list[int]


class Ping(BaseModel):
    tick: int
    at: str


def ship(request: EvaluationRequest) -> list[BaseModel]:
    if request.tick is not None:
        return [Ping(tick=request.tick.number, at=request.tick.scheduled_at.isoformat())]
    return [Shipment(order_ids=[p.order_id for p in request.payloads if isinstance(p, Order | Payment)])]


def make_flock(clock: VirtualClock | None = None) -> tuple[Flock, list[EvaluationRequest]]:
    calls: list[EvaluationRequest] = []

    def engine(request: EvaluationRequest) -> list[BaseModel]:
        calls.append(request)
        return ship(request)

    flock = Flock(engine=FunctionEngine(engine), clock=clock or VirtualClock(START))
    for model in (Order, Payment, Shipment, Ping):
        flock.register_type(model)
    return flock, calls


async def test_join_by_key_out_of_order_across_workflows() -> None:
    flock, _ = make_flock()
    join = JoinSpec(by=lambda p: p.order_id, within=timedelta(minutes=5))
    flock.agent("shipper").consumes(Order, Payment, join=join).publishes(Shipment)
    await flock.publish(Payment(order_id=2))
    await flock.publish(Order(order_id=1))
    await flock.publish(Order(order_id=2))
    await flock.run_until_idle()
    assert await flock.store.get_by_type(Shipment) == [Shipment(order_ids=[2, 2])]
    await flock.publish(Payment(order_id=1))
    await flock.run_until_idle()
    assert [s.order_ids for s in await flock.store.get_by_type(Shipment)] == [[2, 2], [1, 1]]
    assert flock.expired_joins == []


async def test_unmatched_join_expires_and_is_reported() -> None:
    clock = VirtualClock(START)
    flock, _ = make_flock(clock)
    join = JoinSpec(by=lambda p: p.order_id, within=timedelta(minutes=5))
    flock.agent("shipper").consumes(Order, Payment, join=join).publishes(Shipment)
    lonely = await flock.publish(Order(order_id=7))
    await flock.run_until_idle()
    status = await flock.get_correlation_status(lonely.correlation_id)
    assert (status.state, status.waiting_join_inputs) == ("active", 1)
    clock.advance(timedelta(minutes=6))
    await flock.run_until_idle()
    [expired] = flock.expired_joins
    assert (expired.agent, expired.key, expired.types) == ("shipper", "7", ("Order",))
    assert expired.artifact_ids == (str(lonely.id),)
    assert expired.reason == "time window of 0:05:00 elapsed"
    assert expired.expired_at == START + timedelta(minutes=6)
    assert await flock.store.get(lonely.id) == lonely
    await flock.publish(Payment(order_id=7))
    await flock.run_until_idle()
    assert await flock.store.get_by_type(Shipment) == []


async def test_join_count_window() -> None:
    flock, _ = make_flock()
    flock.agent("shipper").consumes(Order, Payment, join=JoinSpec(by=lambda p: p.order_id, within=2)).publishes(
        Shipment
    )
    await flock.publish(Order(order_id=1))
    await flock.publish(Order(order_id=2))
    await flock.publish(Payment(order_id=2))
    await flock.publish(Order(order_id=3))
    await flock.publish(Payment(order_id=1))
    await flock.run_until_idle()
    assert await flock.store.get_by_type(Shipment) == [Shipment(order_ids=[2, 2])]
    assert [(e.key, e.reason) for e in flock.expired_joins] == [("1", "count window of 2 artifacts elapsed")]


async def test_join_key_that_raises_is_rejected() -> None:
    flock, _ = make_flock()

    def key(payload: BaseModel) -> int:
        raise KeyError("no key")

    flock.agent("shipper").consumes(Order, Payment, join=JoinSpec(by=key, within=3)).publishes(Shipment)
    await flock.publish(Order(order_id=1))
    await flock.run_until_idle()
    assert [r.reason for r in flock.rejections] == ["join key raised KeyError: 'no key'"]


async def test_batch_flushes_at_size_with_every_item() -> None:
    flock, calls = make_flock()
    flock.agent("packer").consumes(Order, batch=BatchSpec(size=3)).publishes(Shipment)
    await flock.publish_many([Order(order_id=i) for i in range(7)])
    await flock.run_until_idle()
    assert [s.order_ids for s in await flock.store.get_by_type(Shipment)] == [[0, 1, 2], [3, 4, 5], [6]]
    assert [c.batched for c in calls] == [True, True, True]


async def test_batch_timeout_flush_on_virtual_clock() -> None:
    clock = VirtualClock(START)
    flock, _ = make_flock(clock)
    batch = BatchSpec(size=10, timeout=timedelta(seconds=30), flush_on_idle=False)
    flock.agent("packer").consumes(Order, batch=batch).publishes(Shipment)
    first = await flock.publish(Order(order_id=1))
    await flock.publish(Order(order_id=2))
    await flock.run_until_idle()
    assert await flock.store.get_by_type(Shipment) == []
    assert (await flock.get_correlation_status(first.correlation_id)).waiting_batch_inputs == 1
    clock.advance(timedelta(seconds=31))
    await flock.run_until_idle()
    assert await flock.store.get_by_type(Shipment) == [Shipment(order_ids=[1, 2])]


async def test_batch_timeout_fires_while_run_until_waits() -> None:
    from flock_core import ArtifactCount

    flock, _ = make_flock()
    batch = BatchSpec(size=10, timeout=timedelta(seconds=30), flush_on_idle=False)
    flock.agent("packer").consumes(Order, batch=batch).publishes(Shipment)
    await flock.publish(Order(order_id=1))
    assert await flock.run_until(ArtifactCount(Shipment, at_least=1), timeout=5)
    assert flock.clock.now() == START + timedelta(seconds=30)


async def test_batch_scoped_per_correlation() -> None:
    flock, _ = make_flock()
    flock.agent("packer").consumes(Order, batch=BatchSpec(size=2, scope="correlation")).publishes(Shipment)
    for order_id, cid in [(1, "a"), (2, "b"), (3, "a"), (4, "b")]:
        await flock.publish(Order(order_id=order_id), correlation_id=cid)
    await flock.run_until_idle()
    assert await flock.store.get_by_type(Shipment, correlation_id="a") == [Shipment(order_ids=[1, 3])]
    assert await flock.store.get_by_type(Shipment, correlation_id="b") == [Shipment(order_ids=[2, 4])]


async def test_join_groups_are_batch_items() -> None:
    flock, calls = make_flock()
    join = JoinSpec(by=lambda p: p.order_id, within=10)
    flock.agent("packer").consumes(Order, Payment, join=join, batch=BatchSpec(size=2)).publishes(Shipment)
    for i in (1, 2):
        await flock.publish(Order(order_id=i))
    for i in (2, 1):
        await flock.publish(Payment(order_id=i))
    await flock.run_until_idle()
    assert await flock.store.get_by_type(Shipment) == [Shipment(order_ids=[2, 2, 1, 1])]
    assert len(calls[0].inputs) == 4


async def test_timer_every_with_max_repeats_runs_all_ticks() -> None:
    flock, _ = make_flock()
    flock.agent("heartbeat").schedule(every=timedelta(minutes=1), max_repeats=3).publishes(Ping)
    await flock.run_until_idle()
    pings = await flock.store.get_by_type(Ping)
    assert [(p.tick, p.at) for p in pings] == [
        (1, "2026-11-27T08:01:00+00:00"),
        (2, "2026-11-27T08:02:00+00:00"),
        (3, "2026-11-27T08:03:00+00:00"),
    ]


async def test_unbounded_timer_does_not_keep_run_until_idle_alive() -> None:
    from flock_core import ArtifactCount

    flock, _ = make_flock()
    flock.agent("heartbeat").schedule(every=timedelta(seconds=10), after=timedelta(0)).publishes(Ping)
    await flock.run_until_idle()
    assert [p.tick for p in await flock.store.get_by_type(Ping)] == [1]
    assert await flock.run_until(ArtifactCount(Ping, at_least=4), timeout=5)
    assert flock.clock.now() == START + timedelta(seconds=30)


async def test_timer_at_daily_time_and_once() -> None:
    from flock_core import ArtifactCount

    flock, _ = make_flock()
    flock.agent("daily").schedule(at=time(9, 30)).publishes(Ping)
    flock.agent("once").schedule(at=START + timedelta(hours=2)).publishes(Ping)
    assert await flock.run_until(ArtifactCount(Ping, at_least=3), timeout=5)
    pings = sorted(p.at for p in await flock.store.get_by_type(Ping))
    assert pings == ["2026-11-27T09:30:00+00:00", "2026-11-27T10:00:00+00:00", "2026-11-28T09:30:00+00:00"]


async def test_timer_cron() -> None:
    flock, _ = make_flock()
    flock.agent("cron").schedule(cron="*/15 8 * * *", max_repeats=3).publishes(Ping)
    await flock.run_until_idle()
    assert [p.at[11:16] for p in await flock.store.get_by_type(Ping)] == ["08:15", "08:30", "08:45"]


def test_invalid_pattern_declarations_name_the_agent() -> None:
    flock, _ = make_flock()
    with pytest.raises(AgentDeclarationError, match="agent 'bad': join= needs at least two types"):
        flock.agent("bad").consumes(Order, join=JoinSpec(by=lambda p: p, within=2))
    with pytest.raises(AgentDeclarationError, match="agent 'cron': cron minute field '61'"):
        flock.agent("cron").schedule(cron="61 * * * *")
    with pytest.raises(AgentDeclarationError, match="exactly one of every=, at=, cron="):
        flock.agent("none").schedule()
