"""Resuming a run: a second `Flock` on the first one's store carries on where the first one stopped.

Each test runs on the memory store and the SQLite store shared between both Flocks (the first one's store
is closed, as its process ending would, which ends its hold of the board), and on a SQLite file reopened
by a new store object (what a restarted process does).
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
import pytest
from pydantic import BaseModel

from flock_core import (
    ArtifactCount,
    ArtifactQuery,
    BatchSpec,
    BlackboardStore,
    EvaluationRequest,
    Flock,
    InMemoryBlackboardStore,
    JoinSpec,
)
from flock_core.blackboard._work import Commit, WorkRecord
from flock_core.blackboard.sqlite._store import SQLiteBlackboardStore
from flock_core.orchestration._resume import ResumeReport
from flock_core.testing import FunctionEngine, VirtualClock

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 1, 1, 8, 0, tzinfo=UTC)


class Claim(BaseModel):
    text: str


class Evidence(BaseModel):
    text: str


class Verdict(BaseModel):
    text: str


class Order(BaseModel):
    order_id: int


class Payment(BaseModel):
    order_id: int


class Beat(BaseModel):
    number: int
    at: datetime


class Digest(BaseModel):
    texts: list[str]


TYPES: tuple[type[BaseModel], ...] = (Claim, Evidence, Verdict, Order, Payment, Beat, Digest)


class Board:
    """The store of the first Flock, and the one a restarted Flock gets."""

    def __init__(self, kind: str, path: Path) -> None:
        self.kind = kind
        self.path = path
        self.stores: list[BlackboardStore] = [self._new()]

    def _new(self) -> BlackboardStore:
        return InMemoryBlackboardStore() if self.kind == "memory" else SQLiteBlackboardStore(self.path)

    @property
    def store(self) -> BlackboardStore:
        return self.stores[-1]

    async def restart(self) -> BlackboardStore:
        """The first store closed (its run ended), then the same object, or (`sqlite-reopen`) a new one."""
        await self.store.close()
        if self.kind == "sqlite-reopen":
            self.stores.append(self._new())
        return self.store


@pytest.fixture(params=["memory", "sqlite", "sqlite-reopen"])
async def board(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Board]:
    made = Board(request.param, tmp_path / "board.db")
    yield made
    for store in made.stores:
        await store.close()


class Calls:
    """A deterministic engine that counts its calls per agent."""

    def __init__(self) -> None:
        self.by_agent: dict[str, int] = {}

    def __call__(self, request: EvaluationRequest) -> list[BaseModel]:
        name = request.agent.name
        self.by_agent[name] = self.by_agent.get(name, 0) + 1
        model = request.group.models[0]
        if request.tick is not None:
            return [Beat(number=request.tick.number, at=request.tick.scheduled_at)]
        if model is Digest:
            return [Digest(texts=[str(getattr(p, "text", "?")) for p in request.payloads])]
        texts = " & ".join(str(getattr(p, "text", getattr(p, "order_id", "?"))) for p in request.payloads)
        return [model.model_validate({"text": f"{name}({texts})"})]


def make_flock(store: BlackboardStore, calls: Calls, clock: VirtualClock | None = None) -> Flock:
    flock = Flock(engine=FunctionEngine(calls), store=store, clock=clock or VirtualClock(T0))
    for model in TYPES:
        flock.register_type(model)
    return flock


Declare = Callable[[Flock], None]


def judge(flock: Flock) -> None:
    flock.agent("judge").consumes(Claim, Evidence).publishes(Verdict)


async def test_a_partial_and_gate_completes_after_a_restart(board: Board) -> None:
    calls = Calls()
    first = make_flock(board.store, calls)
    judge(first)
    claim = await first.publish(Claim(text="c"), correlation_id="w1")
    await first.run_until_idle()
    assert calls.by_agent == {}

    second = make_flock(await board.restart(), calls)
    judge(second)
    await second.publish(Evidence(text="e"), correlation_id="w1")
    await second.run_until_idle()

    [verdict] = (await second.store.query(ArtifactQuery(types=frozenset({"Verdict"})))).items
    assert (verdict.payload, verdict.correlation_id, calls.by_agent) == ({"text": "judge(c & e)"}, "w1", {"judge": 1})
    assert claim.id in verdict.consumed_from


async def test_pending_work_of_the_first_flock_runs_once_in_the_second(board: Board) -> None:
    calls = Calls()
    first = make_flock(board.store, calls)
    judge(first)
    await first.publish(Claim(text="c"), correlation_id="w1")
    await first.publish(Evidence(text="e"), correlation_id="w1")  # queued, never run by `first`

    second = make_flock(await board.restart(), calls)
    judge(second)
    report = await second.start()
    await second.run_until_idle()
    await second.run_until_idle()

    assert report == ResumeReport(resumed_work=1)
    assert (await second.get_by_type(Verdict), calls.by_agent) == ([Verdict(text="judge(c & e)")], {"judge": 1})
    assert [(r.agent, r.status, r.attempts) for r in await second.store.work()] == [("judge", "done", 1)]


@pytest.mark.parametrize("pid", ["dead", "ours"])
async def test_a_lease_of_a_dead_process_is_taken_over_at_start(board: Board, pid: str) -> None:
    """Whatever its process id (one that is gone, or ours again: PID reuse, a container's PID 1)."""
    calls = Calls()
    first = make_flock(board.store, calls)
    judge(first)
    await first.publish(Claim(text="c"), correlation_id="w1")
    await first.publish(Evidence(text="e"), correlation_id="w1")
    dead = await anyio.run_process([sys.executable, "-c", "import os; print(os.getpid())"])
    owner = f"{socket.gethostname()}/{int(dead.stdout) if pid == 'dead' else os.getpid()}/0123456789abcdef"
    [record] = await board.store.work()
    await board.store.lease(record.key, owner, datetime.now(UTC) + timedelta(days=1))  # far from expiring

    second = make_flock(await board.restart(), calls)
    judge(second)
    await second.run_until_idle()

    assert calls.by_agent == {"judge": 1}
    [done] = await second.store.work()
    assert (done.status, done.attempts, done.lease_owner) == ("done", 2, second._core.worker_id)


async def test_a_bounded_timer_continues_from_its_last_tick(board: Board) -> None:
    def heart(flock: Flock) -> None:
        flock.agent("heart").schedule(every=timedelta(minutes=1), max_repeats=5).publishes(Beat)

    clock, calls = VirtualClock(T0), Calls()
    first = make_flock(board.store, calls, clock)
    heart(first)
    assert await first.run_until(ArtifactCount(Beat, at_least=2)) is True
    assert 2 <= calls.by_agent["heart"] < 5

    second = make_flock(await board.restart(), calls, clock)
    heart(second)
    await second.run_until_idle()

    beats = await second.get_by_type(Beat)
    assert beats == [Beat(number=n, at=T0 + n * timedelta(minutes=1)) for n in range(1, 6)]
    assert calls.by_agent == {"heart": 5}


async def test_a_join_waiting_for_its_partner_completes_after_a_restart(board: Board) -> None:
    def shipper(flock: Flock) -> None:
        join = JoinSpec(by=lambda p: p.order_id, within=timedelta(minutes=5))
        flock.agent("shipper").consumes(Order, Payment, join=join).publishes(Verdict)

    clock, calls = VirtualClock(T0), Calls()
    first = make_flock(board.store, calls, clock)
    shipper(first)
    await first.publish(Order(order_id=7))
    await first.publish(Payment(order_id=8))
    await first.run_until_idle()
    assert calls.by_agent == {}

    clock.advance(timedelta(minutes=1))
    second = make_flock(await board.restart(), calls, clock)
    shipper(second)
    await second.publish(Payment(order_id=7))
    await second.run_until_idle()

    assert (await second.get_by_type(Verdict), second.expired_joins) == ([Verdict(text="shipper(7 & 7)")], [])
    assert calls.by_agent == {"shipper": 1}


async def test_a_partially_filled_batch_continues_after_a_restart(board: Board) -> None:
    def digester(flock: Flock) -> None:
        flock.agent("digester").consumes(Claim, batch=BatchSpec(size=3, flush_on_idle=False)).publishes(Digest)

    calls = Calls()
    first = make_flock(board.store, calls)
    digester(first)
    for text in ("a", "b"):
        await first.publish(Claim(text=text))
    await first.run_until_idle()
    assert calls.by_agent == {}

    second = make_flock(await board.restart(), calls)
    digester(second)
    await second.publish(Claim(text="c"))
    await second.run_until_idle()

    assert (await second.get_by_type(Digest), calls.by_agent) == ([Digest(texts=["a", "b", "c"])], {"digester": 1})


async def test_changed_declarations_are_reported_and_orphaned_work_does_not_run(board: Board) -> None:
    calls = Calls()
    first = make_flock(board.store, calls)
    judge(first)
    first.agent("critic").consumes(Verdict).publishes(Evidence)
    first.agent("archivist").consumes(Claim).publishes(Verdict)
    await first.publish(Claim(text="c"), correlation_id="w1")  # queues work for archivist only

    second = make_flock(await board.restart(), calls)
    judge(second)
    second.agent("critic").consumes(Verdict).publishes(Evidence, fan_out=2)
    second.agent("editor").consumes(Evidence).publishes(Claim)
    report = await second.start()
    await second.run_until_idle()

    assert report == ResumeReport(
        added=("editor",), removed=("archivist",), changed=("critic",), resumed_work=0, orphaned_work=1
    )
    assert calls.by_agent == {}
    assert [(r.agent, r.status) for r in await second.store.work()] == [("archivist", "pending")]


async def test_orphaned_work_runs_when_its_agent_is_declared_again(board: Board) -> None:
    calls = Calls()
    first = make_flock(board.store, calls)
    first.agent("archivist").consumes(Claim).publishes(Verdict)
    await first.publish(Claim(text="c"))

    second = make_flock(await board.restart(), calls)
    judge(second)
    assert (await second.start()).orphaned_work == 1

    third = make_flock(await board.restart(), calls)
    third.agent("archivist").consumes(Claim).publishes(Verdict)
    report = await third.start()
    await third.run_until_idle()

    assert report == ResumeReport(added=("archivist",), removed=("judge",), resumed_work=1)
    assert (await third.get_by_type(Verdict), calls.by_agent) == ([Verdict(text="archivist(c)")], {"archivist": 1})


async def test_a_completed_run_does_nothing_again(board: Board) -> None:
    calls = Calls()
    first = make_flock(board.store, calls)
    judge(first)
    await first.publish(Claim(text="c"), correlation_id="w1")
    await first.publish(Evidence(text="e"), correlation_id="w1")
    await first.run_until_idle()
    before = (await first.store.query(ArtifactQuery())).total

    second = make_flock(await board.restart(), calls)
    judge(second)
    report = await second.start()
    await second.run_until_idle()

    assert (report, (await second.store.query(ArtifactQuery())).total, calls.by_agent) == (
        ResumeReport(),
        before,
        {"judge": 1},
    )
    assert await second.store.commit(Commit(complete=(await second.store.work())[0].key)) is False
    assert isinstance((await second.store.work())[0], WorkRecord)
