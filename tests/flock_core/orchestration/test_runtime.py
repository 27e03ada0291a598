"""The work loop's tasks: each runs activations back to back, in one cancel scope, yielding now and then.

A task that finished an activation takes the next startable one itself. These tests drive a `Runtime`
with a host whose activations are plain functions, to pin down what that must not change: limits hold,
a cancelled activation stops alone and the work queued behind it still runs, a cancelled run starts
nothing more and keeps what it did not start, and activations that never wait still let the loop run.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

import anyio
import anyio.lowlevel
import pytest

from flock_core.blackboard._work import WorkRecord
from flock_core.orchestration import _runtime
from flock_core.orchestration._runtime import Runtime, WorkItem, cancel_check
from flock_core.testing import VirtualClock

pytestmark = pytest.mark.anyio


def item(n: int, *, agent: str = "a", correlation_id: str = "w") -> WorkItem:
    record = WorkRecord(key=f"{agent}:{n}", agent=agent, subscription=0, input_ids=(), correlation_id=correlation_id)
    return WorkItem(record, ())


class Host:
    """A `RuntimeHost` for a local board: each activation is `activate(item)`."""

    def __init__(self, activate: Callable[[WorkItem], Awaitable[None]]) -> None:
        self.activate = activate
        self.ran: list[str] = []

    async def run_item(self, item: WorkItem) -> None:
        await self.activate(item)
        self.ran.append(item.record.key)

    async def on_clock(self, now: datetime) -> None:
        del now

    def next_deadline(self) -> datetime | None:
        return None

    async def on_idle(self) -> bool:
        return False

    async def pull(self, capacity: int) -> None:
        del capacity

    async def settled(self) -> bool:
        return True

    async def wait_external(self) -> None:  # pragma: no cover - a local board never waits for others
        raise AssertionError("a local board has no other processes")

    @property
    def poll_interval(self) -> float | None:
        return None


def runtime(max_concurrency: int, limits: dict[str, int] | None = None) -> Runtime:
    return Runtime(VirtualClock(), max_concurrency, (limits or {}).get)


async def test_limits_hold_while_tasks_take_their_next_activation_themselves() -> None:
    running: dict[str, int] = {"a": 0, "b": 0}
    most: dict[str, int] = {"a": 0, "b": 0, "all": 0}

    async def activate(item: WorkItem) -> None:
        running[item.agent] += 1
        most[item.agent] = max(most[item.agent], running[item.agent])
        most["all"] = max(most["all"], sum(running.values()))
        await anyio.lowlevel.checkpoint()
        await anyio.lowlevel.checkpoint()
        running[item.agent] -= 1

    loop = runtime(3, {"a": 1})
    host = Host(activate)
    for n in range(20):
        loop.submit(item(n, agent="a" if n % 2 else "b"))
    await loop.drive(host)
    assert len(host.ran) == 20
    assert most == {"a": 1, "b": 2, "all": 3}
    assert (loop.pending(), loop.in_flight) == (0, 0)


async def test_a_cancelled_activation_stops_alone_and_the_work_behind_it_runs() -> None:
    started = anyio.Event()
    stopped: list[str] = []

    async def activate(item: WorkItem) -> None:
        if item.record.key == "a:0":
            started.set()
            try:
                await anyio.sleep_forever()
            except anyio.get_cancelled_exc_class():
                stopped.append(item.record.key)
                raise

    loop = runtime(1)
    host = Host(activate)
    loop.submit(item(0, correlation_id="cancelled"))
    for n in range(1, 4):
        loop.submit(item(n))

    async def cancel_when_running() -> None:
        await started.wait()
        assert loop.cancel(keys=frozenset({"a:0"})) == 1

    with anyio.fail_after(10):
        async with anyio.create_task_group() as group:
            group.start_soon(cancel_when_running)
            await loop.drive(host)
    assert stopped == ["a:0"]
    assert host.ran == ["a:1", "a:2", "a:3"]
    assert (loop.pending(), loop.in_flight, loop.held_keys()) == (0, 0, [])


async def test_an_activation_cancelled_after_it_finished_its_work_cancels_nothing_after_it() -> None:
    loop = runtime(1)

    async def activate(item: WorkItem) -> None:
        if item.record.key == "a:0":
            with anyio.CancelScope(shield=True):  # like the step that stores its outputs
                assert loop.cancel(keys=frozenset({"a:0"})) == 1
                await anyio.lowlevel.checkpoint()

    host = Host(activate)
    for n in range(3):
        loop.submit(item(n))
    with anyio.fail_after(10):
        await loop.drive(host)
    assert host.ran == ["a:0", "a:1", "a:2"]


async def test_a_cancelled_run_starts_nothing_more_and_keeps_the_rest_queued() -> None:
    outer = anyio.CancelScope()

    async def activate(item: WorkItem) -> None:
        if item.record.key == "a:1":
            outer.cancel()  # activations that never wait: the next one must not start anyway

    loop = runtime(1)
    host = Host(activate)
    for n in range(5):
        loop.submit(item(n))
    with outer:
        await loop.drive(host)
    assert host.ran == ["a:0", "a:1"]
    assert (loop.pending(), loop.in_flight) == (3, 0)
    await loop.drive(host)
    assert host.ran == [f"a:{n}" for n in range(5)]


async def test_activations_that_never_wait_still_let_other_tasks_run() -> None:
    ran_before_the_end: list[int] = []
    loop = runtime(1)

    async def activate(item: WorkItem) -> None:
        del item  # nothing awaited: only the loop's own yields let the watcher run

    host = Host(activate)
    for n in range(100):
        loop.submit(item(n))

    async def watch() -> None:
        while len(host.ran) < 100:
            ran_before_the_end.append(len(host.ran))
            await anyio.lowlevel.checkpoint()

    async with anyio.create_task_group() as group:
        group.start_soon(watch)
        await loop.drive(host)
    assert len(host.ran) == 100
    assert len([n for n in ran_before_the_end if 0 < n < 100]) >= 5


async def test_a_failing_host_stops_the_run_and_its_activation_runs_again_next_time() -> None:
    failing = True

    async def activate(item: WorkItem) -> None:
        if item.record.key == "a:1" and failing:
            raise RuntimeError("the store broke")

    loop = runtime(1)
    host = Host(activate)
    for n in range(3):
        loop.submit(item(n))
    with pytest.raises(ExceptionGroup):
        await loop.drive(host)
    assert host.ran == ["a:0"]
    assert sorted(loop.held_keys()) == ["a:1", "a:2"]
    failing = False
    await loop.drive(host)
    assert host.ran == ["a:0", "a:1", "a:2"]


async def test_a_halted_run_starts_nothing_more_while_its_tasks_take_their_next_activation() -> None:
    loop = runtime(2)
    host = Host(lambda _item: anyio.lowlevel.checkpoint())
    for n in range(10):
        loop.submit(item(n))
    await loop.drive(host, halted=lambda: len(host.ran) >= 3)
    assert 3 <= len(host.ran) <= 4  # the two tasks each finish the activation they had started
    assert loop.pending() == 10 - len(host.ran)
    await loop.drive(host)
    assert sorted(host.ran) == sorted(f"a:{n}" for n in range(10))


async def test_the_branches_an_activation_releases_start_together() -> None:
    """A task that takes the next item also starts its siblings: a fan-out's branches run side by side."""
    loop = runtime(4)
    events: list[str] = []

    async def activate(work: WorkItem) -> None:
        key = work.record.key
        events.append(f"start {key}")
        if key == "plan:0":  # the planner's outputs release three branches
            for n in range(3):
                loop.submit(item(n, agent="branch"))
        await anyio.lowlevel.checkpoint()
        events.append(f"end {key}")

    class BusyHost(Host):
        async def on_clock(self, now: datetime) -> None:  # a real board's turn of the drive awaits its store
            for _ in range(5):
                await anyio.lowlevel.checkpoint()

    loop.submit(item(0, agent="plan"))
    await loop.drive(BusyHost(activate))
    branches = [e for e in events if "branch" in e]
    assert sorted(branches[:3]) == [f"start branch:{n}" for n in range(3)]  # all started before any ended
    assert len(branches) == 6


async def test_the_cancel_check_raises_in_a_cancelled_scope_and_only_there() -> None:
    check = cancel_check()
    assert check is not anyio.lowlevel.checkpoint_if_cancelled  # the backend's own, found once
    await check()  # nothing cancelled: returns
    passed = False
    with anyio.CancelScope() as outer:
        with anyio.CancelScope():
            outer.cancel()  # an enclosing scope, cancelled without a wait in between
            await check()
            passed = True  # pragma: no cover - the check raised
    assert outer.cancelled_caught
    assert not passed
    with anyio.CancelScope() as outer, anyio.CancelScope(shield=True):
        outer.cancel()
        await check()  # a shielded scope is not cancelled by its parent


async def test_the_cancel_check_is_the_public_function_if_anyio_moves_its_backend(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def moved(name: str) -> object:
        raise ModuleNotFoundError(name)

    monkeypatch.setattr(_runtime.importlib, "import_module", moved)
    assert cancel_check() is anyio.lowlevel.checkpoint_if_cancelled
