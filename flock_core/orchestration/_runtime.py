"""The work loop: ready activations by priority, per-agent limits, timers, event-driven idle."""

from __future__ import annotations

import heapq
import importlib
import itertools
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, NamedTuple, Protocol

import anyio

from .._clock import Clock
from .._records import plain_init
from ..blackboard._artifacts import Artifact
from ..blackboard._work import WorkRecord

__all__ = ["Runtime", "RuntimeHost", "TimerKind", "WorkItem", "cancel_check"]

_log = logging.getLogger("flock_core")

TimerKind = Literal["delayed", "tick", "retry"]

_YIELD_EVERY = 8
"""Activations a task runs back to back before it yields to the loop (if none of them waited on anything)."""


@plain_init
@dataclass(frozen=True, slots=True)
class WorkItem:
    """A stored work record and its input artifacts, ready to run."""

    record: WorkRecord
    inputs: tuple[Artifact, ...]

    @property
    def agent(self) -> str:
        """The agent to run."""
        return self.record.agent

    @property
    def correlation_id(self) -> str:
        """The workflow of the outputs."""
        return self.record.correlation_id


def cancel_check() -> Callable[[], Awaitable[None]]:
    """`anyio.lowlevel.checkpoint_if_cancelled`, bound to the running event loop's backend.

    The public function finds the backend on every call (through sniffio when it is installed: an import
    statement and two look-ups of the current task), and a task that chains activations calls it between
    every two: 1.4% of an in-process activation. The backend's own method is what it then calls. It is
    found through anyio's private layout, once per task; should that layout change, this is the public
    function.
    """
    try:
        backend = importlib.import_module("anyio._core._eventloop").get_async_backend()
        check: Callable[[], Awaitable[None]] = backend.checkpoint_if_cancelled
    except Exception:  # noqa: BLE001 - anyio moved it: the public function does the same check, more slowly
        return anyio.lowlevel.checkpoint_if_cancelled
    return check


class _Queued(NamedTuple):
    """A ready item in its agent's heap: higher priority first, then first come. A tuple of two ints first, so
    that the heap compares entries in C (the sequence number is unique: the item itself is never compared)."""

    rank: int  # minus the priority
    seq: int
    item: WorkItem


@dataclass(order=True, slots=True)
class _Timer:
    when: datetime
    seq: int
    fire: Callable[[], Awaitable[None]] = field(compare=False)
    hard: bool = field(compare=False)
    kind: TimerKind = field(compare=False)
    correlation_id: str | None = field(compare=False)


class RuntimeHost(Protocol):
    """What the loop calls back into (the `Flock`)."""

    async def run_item(self, item: WorkItem) -> None:
        """Run one activation to completion (never raises for an activation failure)."""
        ...

    async def on_clock(self, now: datetime) -> None:
        """Expire joins and time out batches that are due at `now`."""
        ...

    def next_deadline(self) -> datetime | None:
        """The next join expiry or batch timeout."""
        ...

    async def on_idle(self) -> bool:
        """Nothing runs: flush what should be flushed; return whether new work was queued."""
        ...

    async def pull(self, capacity: int) -> None:
        """Bring in work from outside this process (a shared store); a no-op for a local board."""
        ...

    async def settled(self) -> bool:
        """Whether the whole board is done (other processes included); always true for a local board."""
        ...

    async def wait_external(self) -> None:
        """Wait for other processes to change the board (only called when `settled()` is false)."""
        ...

    @property
    def poll_interval(self) -> float | None:
        """How often to look for outside work while busy (`None`: never, a local board)."""
        ...


class Runtime:
    """Holds ready work and timers, and drives them until nothing is left to do.

    Idle is an event, not a poll: the loop sleeps on a wake-up event that every state change sets, or on
    the clock until the next timer. Hard timers (delayed artifacts, bounded schedules) keep a run alive;
    soft ones (unbounded schedules, join windows, batch timeouts) fire only while it runs, unless
    `keep_alive` asks the loop to wait for them. Ready items wait in one heap per agent, so an agent at
    its own limit holds back no other; a task that finished an activation starts the next ready one.
    """

    def __init__(self, clock: Clock, max_concurrency: int, agent_limit: Callable[[str], int | None]) -> None:
        self._clock = clock
        self._max_concurrency = max_concurrency
        self._agent_limit = agent_limit
        self._ready: dict[str, list[_Queued]] = {}  # one heap per agent, so a full agent blocks no one
        self._queued = 0
        self._timers: list[_Timer] = []
        self._counter = itertools.count()
        self._running: dict[str, int] = {}
        self._running_by_correlation: dict[str, int] = {}
        self._running_keys: set[str] = set()
        self._queued_keys: set[str] = set()
        self._scopes: dict[str, tuple[str, anyio.CancelScope]] = {}  # work key -> (workflow, its cancel scope)
        self._in_flight = 0
        self._wake = anyio.Event()
        self._woken = False  # whether `_wake` is set: setting a set event again costs two calls
        self._drained: anyio.Event | None = None
        self._driving = anyio.Lock()
        self._progress: anyio.Event | None = None  # made by the first waiter of `progressed`

    @property
    def max_concurrency(self) -> int:
        """Activations this runtime runs at once, across agents."""
        return self._max_concurrency

    @max_concurrency.setter
    def max_concurrency(self, value: int) -> None:
        if value < 1:
            raise ValueError(f"max_concurrency must be at least 1, got {value}")
        self._max_concurrency = value
        self._wake_up()

    @property
    def driving(self) -> bool:
        """Whether a drive (a run, a worker, a server) is working through the queue now."""
        return self._driving.locked()

    async def progressed(self) -> None:
        """Return at the next sign of progress: an activation finished or was cancelled, or a drive turned or ended."""
        if self._progress is None:
            self._progress = anyio.Event()
        await self._progress.wait()

    def _signal_progress(self) -> None:
        # The event exists only while someone waits for it: no new event per finished activation otherwise.
        if self._progress is not None:
            self._progress.set()
            self._progress = None

    @property
    def in_flight(self) -> int:
        """Activations running now."""
        return self._in_flight

    @property
    def idle(self) -> bool:
        """Whether nothing is queued, running or timed here."""
        return not (self._queued or self._in_flight or self._timers)

    def pending(self, correlation_id: str | None = None) -> int:
        """Activations queued or running (optionally for one workflow)."""
        if correlation_id is None:
            return self._queued + self._in_flight
        queued = sum(1 for heap in self._ready.values() for q in heap if q.item.correlation_id == correlation_id)
        return queued + self._running_by_correlation.get(correlation_id, 0)

    async def drained(self) -> None:
        """Return once no activation is queued or running here (at once when none is)."""
        while self._queued or self._in_flight:
            if self._drained is None:
                self._drained = anyio.Event()
            await self._drained.wait()

    def timers(self, kind: TimerKind, correlation_id: str | None = None) -> int:
        """Timers of `kind` waiting to fire (optionally for one workflow)."""
        return sum(1 for t in self._timers if t.kind == kind and correlation_id in (None, t.correlation_id))

    def workflows(self) -> set[str]:
        """The workflows with an activation queued or running here, or a timer (retry, delayed artifact)."""
        found = {q.item.correlation_id for heap in self._ready.values() for q in heap}
        found.update(self._running_by_correlation)
        found.update(t.correlation_id for t in self._timers if t.correlation_id is not None)
        return found

    def held_keys(self) -> list[str]:
        """The work keys of every activation queued or running here (the leases this process holds)."""
        return [*self._running_keys, *self._queued_keys]

    def hard_ticks(self) -> int:
        """Ticks of bounded timers still to fire (they keep a run alive)."""
        return sum(1 for t in self._timers if t.kind == "tick" and t.hard)

    def workflow_of(self, key: str) -> str | None:
        """The workflow of the activation with this work key, while it is queued or running here."""
        if key in self._scopes:
            return self._scopes[key][0]
        return next((q.item.correlation_id for h in self._ready.values() for q in h if q.item.record.key == key), None)

    def cancel(
        self, correlation_id: str | None = None, keys: frozenset[str] | None = None, *, running: bool = True
    ) -> int:
        """Drop the queued and cancel the running activations of a workflow (or with these work keys).

        A cancelled activation stops at its next checkpoint (an engine awaiting a model call stops there)
        and commits nothing. `running=False` leaves running activations alone. Returns how many
        activations were dropped or cancelled.
        """

        def chosen(cid: str, key: str) -> bool:
            return cid == correlation_id or (keys is not None and key in keys)

        dropped = 0
        for agent in list(self._ready):
            heap = self._ready[agent]
            kept: list[_Queued] = []
            for q in heap:
                if chosen(q.item.correlation_id, q.item.record.key):
                    self._queued_keys.discard(q.item.record.key)
                else:
                    kept.append(q)
            dropped += len(heap) - len(kept)
            if kept:
                heapq.heapify(kept)
                self._ready[agent] = kept
            else:
                del self._ready[agent]
        self._queued -= dropped
        retries = [t for t in self._timers if t.kind == "retry" and t.correlation_id == correlation_id]
        if retries:  # a cancelled workflow's retries never run: their backoff must not keep a run alive
            self._timers = [t for t in self._timers if t not in retries]
            heapq.heapify(self._timers)
        for key, (cid, scope) in self._scopes.items() if running else ():
            if chosen(cid, key):
                scope.cancel()
                dropped += 1
        self._wake_up()
        self._signal_progress()
        if self._drained is not None and not (self._queued or self._in_flight):
            self._drained.set()
            self._drained = None
        return dropped

    def _wake_up(self) -> None:
        """Wake the drive if it waits for work (see `_wait`)."""
        if not self._woken:
            self._woken = True
            self._wake.set()

    def submit(self, item: WorkItem) -> bool:
        """Queue an activation; higher priority first, then first come first served.

        A work item already queued or running here is not queued again (returns False): two runs of one
        item would both hold its lease, and the second's outputs would be routed but never stored.
        """
        key = item.record.key
        if key in self._queued_keys or key in self._running_keys:
            _log.debug("work item %s is already queued or running here; not queued twice", key)
            return False
        self._queued_keys.add(key)
        queued = _Queued(-item.record.priority, next(self._counter), item)
        heapq.heappush(self._ready.setdefault(item.record.agent, []), queued)
        self._queued += 1
        if not self._woken:  # `_wake_up()`, inline: every queued item passes here
            self._wake_up()
        return True

    def call_at(
        self,
        when: datetime,
        fire: Callable[[], Awaitable[None]],
        *,
        hard: bool,
        kind: TimerKind,
        correlation_id: str | None = None,
    ) -> None:
        """Call `fire` once the clock reaches `when`."""
        heapq.heappush(self._timers, _Timer(when, next(self._counter), fire, hard, kind, correlation_id))
        self._wake_up()

    def _next_startable(self) -> list[_Queued] | None:
        """The heap whose head runs next: the best head among agents below their own limit."""
        best: list[_Queued] | None = None
        for agent, heap in self._ready.items():
            running = self._running.get(agent, 0)  # an agent's limit is at least 1: one running none is below it
            if running and (limit := self._agent_limit(agent)) is not None and running >= limit:
                continue
            if best is None or heap[0] < best[0]:
                best = heap
        return best

    def _take_startable(self) -> list[_Queued]:
        """Ready items in priority order (then first come), skipping agents that run at their limit."""
        started: list[_Queued] = []
        while self._queued and self._in_flight < self._max_concurrency:
            heap = self._next_startable()
            if heap is None:
                break
            queued = heapq.heappop(heap)
            record = queued.item.record
            agent, cid = record.agent, record.correlation_id
            if not heap:
                del self._ready[agent]
            self._queued -= 1
            self._in_flight += 1
            self._running[agent] = self._running.get(agent, 0) + 1
            self._running_by_correlation[cid] = self._running_by_correlation.get(cid, 0) + 1
            self._queued_keys.discard(record.key)
            self._running_keys.add(record.key)
            started.append(queued)
        return started

    def _untake(self, queued: _Queued) -> None:
        """Queue again, in its place, an item that was taken but not finished (its task was cancelled)."""
        self._finish(queued.item)
        heapq.heappush(self._ready.setdefault(queued.item.agent, []), queued)
        self._queued_keys.add(queued.item.record.key)
        self._queued += 1

    def _finish(self, item: WorkItem) -> None:
        record = item.record
        agent, cid = record.agent, record.correlation_id
        self._in_flight -= 1
        self._running[agent] -= 1
        self._running_by_correlation[cid] -= 1
        if not self._running_by_correlation[cid]:
            del self._running_by_correlation[cid]
        self._running_keys.discard(record.key)
        self._wake_up()
        self._signal_progress()
        if self._drained is not None and not (self._queued or self._in_flight):
            self._drained.set()
            self._drained = None

    async def _fire_due(self) -> None:
        now = self._clock.now()
        while self._timers and self._timers[0].when <= now:
            await heapq.heappop(self._timers).fire()

    def _next_wakeup(self, host: RuntimeHost, *, hard_only: bool) -> datetime | None:
        candidates = [t.when for t in self._timers if t.hard or not hard_only]
        if not hard_only and (deadline := host.next_deadline()) is not None:
            candidates.append(deadline)
        return min(candidates) if candidates else None

    async def drive(
        self,
        host: RuntimeHost,
        stop: Callable[[], Awaitable[bool]] | None = None,
        *,
        keep_alive: bool = False,
        halted: Callable[[], bool] | None = None,
    ) -> None:
        """Run work until idle, or until `stop()` or `halted()` returns true (running activations then finish).

        `halted` is a quick synchronous check (a time limit): unlike `stop`, it lets a task that finished an
        activation take the next one itself, asking it first. One drive runs at a time per runtime: a second
        concurrent call (the HTTP server's worker and a user's `run_until_idle`) waits for the first and
        then drives whatever is left.
        """

        async def run_and_finish(queued: _Queued, spawn: Callable[[_Queued], None]) -> None:
            # Unless the run has a stop condition (checked before anything starts), a task that finished
            # an activation takes the next startable one itself: starting a task costs more than most
            # in-process activations. See `_work` for its cancel scope and when it yields.
            await self._work(host, queued, chain=stop is None, halted=halted, spawn=spawn)

        try:
            await self._drive(host, run_and_finish, stop, keep_alive, halted)
        finally:
            self._signal_progress()

    async def _work(
        self,
        host: RuntimeHost,
        queued: _Queued,
        *,
        chain: bool,
        halted: Callable[[], bool] | None,
        spawn: Callable[[_Queued], None],
    ) -> None:
        """Run `queued`, then (with `chain`, unless `halted()`) the next startable item, and so on.

        When it takes the next item, it also `spawn`s a task for every other item that can start now (the
        siblings its activation released, up to the concurrency limit), so they start together with the
        one it runs instead of a turn of the drive later: a fan-out's branches run side by side.

        The task's activations share one cancel scope, registered under the work key of the one running:
        `cancel` cancels it, and the task ends after that activation (the drive starts another for the
        work left). It yields to the loop every `_YIELD_EVERY` activations; an activation that waits on
        anything (a model call, the board's step lock) yields there anyway.
        """
        ran, checkpoint_if_cancelled = 0, cancel_check()
        with anyio.CancelScope() as scope:
            while True:
                item = queued.item
                key = item.record.key
                self._scopes[key] = (item.record.correlation_id, scope)
                try:
                    await host.run_item(item)
                except BaseException as exc:
                    del self._scopes[key]
                    if scope.cancel_called and isinstance(exc, anyio.get_cancelled_exc_class()):
                        self._finish(item)  # this activation was cancelled: it is dropped, not run again
                    else:  # the run itself was cancelled (or broke) mid-activation: the next run starts it again
                        self._untake(queued)
                    raise
                del self._scopes[key]
                self._finish(item)
                if scope.cancel_called or not chain or (halted is not None and halted()):
                    return  # cancelled after it had committed, or nothing more is to start: this task is done
                following = self._take_startable()
                if not following:
                    return
                queued = following[0]
                for sibling in following[1:]:
                    spawn(sibling)
                ran += 1
                try:  # a cancelled run stops here, before the next activation (which the next run starts)
                    if ran % _YIELD_EVERY:
                        await checkpoint_if_cancelled()
                    else:
                        await anyio.lowlevel.checkpoint()
                except BaseException:
                    self._untake(queued)
                    raise

    async def _drive(
        self,
        host: RuntimeHost,
        run_and_finish: Callable[[_Queued, Callable[[_Queued], None]], Coroutine[Any, Any, None]],
        stop: Callable[[], Awaitable[bool]] | None,
        keep_alive: bool,
        halted: Callable[[], bool] | None,
    ) -> None:
        async with self._driving, anyio.create_task_group() as group:

            def spawn(queued: _Queued) -> None:
                group.start_soon(run_and_finish, queued, spawn)

            while True:
                self._wake, self._woken = anyio.Event(), False
                await self._fire_due()
                await host.on_clock(self._clock.now())
                self._signal_progress()
                if (stop is not None and await stop()) or (halted is not None and halted()):
                    return
                await host.pull(self._max_concurrency - self._in_flight - self._queued)
                for queued in self._take_startable():
                    spawn(queued)
                if self._in_flight or self._queued:
                    await self._wait(host)
                elif await host.on_idle() or await self._sleep_to_next(host, keep_alive):
                    continue
                elif await host.settled():
                    return
                else:
                    await host.wait_external()

    async def _wait(self, host: RuntimeHost) -> None:
        wakeup = self._next_wakeup(host, hard_only=False)
        seconds = float("inf") if wakeup is None else max(0.0, (wakeup - self._clock.now()).total_seconds())
        if host.poll_interval is not None:
            seconds = min(seconds, host.poll_interval)
        with anyio.move_on_after(seconds):
            await self._wake.wait()

    async def _sleep_to_next(self, host: RuntimeHost, keep_alive: bool) -> bool:
        hard = self._next_wakeup(host, hard_only=True)
        if hard is None and not keep_alive:
            return False
        wakeup = self._next_wakeup(host, hard_only=False)
        if wakeup is None:
            return False
        if host.poll_interval is not None:
            # a shared board: other processes may complete joins or publish before the deadline
            with anyio.move_on_after(max(0.0, (wakeup - self._clock.now()).total_seconds())):
                await host.wait_external()
            return True
        await self._clock.sleep_until(wakeup)
        return True
