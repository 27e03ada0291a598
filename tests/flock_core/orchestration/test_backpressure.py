"""Back-pressure: `publish` waits (or raises) at `max_pending`, counting queued work and held inputs."""

from __future__ import annotations

from datetime import timedelta

import anyio
import httpx
import pytest
from pydantic import BaseModel

from flock_core import (
    BlackboardStore,
    EvaluationRequest,
    Flock,
    InMemoryBlackboardStore,
    JoinSpec,
)
from flock_core.exceptions import ConfigurationError, QueueFullError
from flock_core.serve import create_app
from flock_core.testing import FunctionEngine

pytestmark = pytest.mark.anyio


class Job(BaseModel):
    n: int


class Mid(BaseModel):
    n: int


class Done(BaseModel):
    n: int


class Order(BaseModel):
    order_id: int


class Payment(BaseModel):
    order_id: int


def stage(request: EvaluationRequest) -> list[BaseModel]:
    item = request.payloads[0]
    assert isinstance(item, Job | Mid)
    return [Mid(n=item.n)] if isinstance(item, Job) else [Done(n=item.n)]


def pipeline(store: BlackboardStore, **options: object) -> Flock:
    flock = Flock(store=store, engine=FunctionEngine(stage), **options)  # type: ignore[arg-type]
    for model in (Job, Mid, Done, Order, Payment):
        flock.register_type(model)
    flock.agent("first").consumes(Job).publishes(Mid)
    flock.agent("second").consumes(Mid).publishes(Done)
    return flock


def pending(flock: Flock) -> int:
    return flock._core.runtime.pending()  # pyright: ignore[reportPrivateUsage]


async def test_publish_waits_for_room_and_runs_the_queue_itself_when_nothing_else_does(
    store: BlackboardStore,
) -> None:
    flock = pipeline(store, max_pending=4, max_concurrency=2)
    seen: list[int] = []
    for n in range(40):
        await flock.publish(Job(n=n))
        seen.append(pending(flock))
    assert max(seen) <= 4
    assert len(await flock.get_by_type(Done)) >= 30  # the publishes ran the work as they went
    await flock.run_until_idle()
    assert sorted(d.n for d in await flock.get_by_type(Done)) == list(range(40))


async def test_publish_waits_for_a_run_in_another_task(store: BlackboardStore) -> None:
    flock = pipeline(store, max_pending=3)
    seen: list[int] = []

    async def publisher() -> None:
        for n in range(30):
            await flock.publish(Job(n=n))
            seen.append(pending(flock))

    async def server() -> None:  # as `flock serve` does: run whenever there is work, until told to stop
        while len(await flock.get_by_type(Done)) < 30:
            await flock.run_until_idle()
            await anyio.sleep(0.001)

    with anyio.fail_after(30):
        async with anyio.create_task_group() as group:
            group.start_soon(publisher)
            group.start_soon(server)
    assert max(seen) <= 3
    assert sorted(d.n for d in await flock.get_by_type(Done)) == list(range(30))


async def test_publish_raises_a_typed_error_at_the_bound_when_asked(store: BlackboardStore) -> None:
    flock = pipeline(store, max_pending=3, when_full="raise")
    for n in range(3):
        await flock.publish(Job(n=n))
    with pytest.raises(QueueFullError) as refused:
        await flock.publish(Job(n=3))
    assert (refused.value.limit, refused.value.pending) == (3, 3)
    await flock.run_until_idle()
    await flock.publish(Job(n=3))  # room again
    await flock.run_until_idle()
    assert len(await flock.get_by_type(Done)) == 4


async def test_inputs_held_in_joins_count_and_a_full_board_that_cannot_drain_raises_instead_of_hanging(
    store: BlackboardStore,
) -> None:
    flock = pipeline(store, max_pending=3)
    flock.agent("ship").consumes(
        Order, Payment, join=JoinSpec(by=lambda p: p.order_id, within=timedelta(hours=1))
    ).publishes(Done)
    for order_id in range(3):
        await flock.publish(Order(order_id=order_id))  # each waits for its payment
    with anyio.fail_after(10), pytest.raises(QueueFullError, match="nothing queued or running can make room"):
        await flock.publish(Order(order_id=3))


def test_bad_back_pressure_options_are_refused_by_name() -> None:
    with pytest.raises(ConfigurationError) as caught:
        Flock(max_pending=0)
    assert caught.value.setting == "max_pending"
    with pytest.raises(ConfigurationError) as caught:
        Flock(when_full="drop")  # type: ignore[arg-type]
    assert caught.value.setting == "when_full"


async def test_an_http_publish_at_the_bound_gets_429() -> None:
    flock = pipeline(InMemoryBlackboardStore(), max_pending=1, when_full="raise")
    body = {"type": "Job", "payload": {"n": 0}}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(flock)), base_url="http://localhost"
    ) as http:
        assert (await http.post("/api/v1/artifacts", json=body)).status_code == 201
        refused = await http.post("/api/v1/artifacts", json=body)
    assert (refused.status_code, refused.json()["error"]["code"]) == (429, "queue_full")


async def test_on_a_shared_board_the_stores_backlog_counts() -> None:
    shared = InMemoryBlackboardStore(shared=True)
    flock = pipeline(shared, max_pending=4)
    backlog: list[int] = []
    for n in range(20):
        await flock.publish(Job(n=n))  # nothing else works on the board: the publisher claims and runs work
        state = await shared.board_state()
        backlog.append(state.unrouted + state.pending + state.leased)
    assert max(backlog) <= 4
    with anyio.fail_after(30):
        await flock.run_until_idle()
    assert sorted(d.n for d in await flock.get_by_type(Done)) == list(range(20))

    refusing = pipeline(InMemoryBlackboardStore(shared=True), max_pending=2, when_full="raise")
    for n in range(2):
        await refusing.publish(Job(n=n))  # stored, not routed yet: the store's backlog is 2
    with pytest.raises(QueueFullError):
        await refusing.publish(Job(n=2))
