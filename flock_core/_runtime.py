"""The work loop: ready activations by priority, per-agent limits, delayed artifacts, event-driven idle."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

import anyio

from ._artifacts import Artifact
from ._clock import Clock
from ._scheduler import Activation

__all__ = ["Runtime", "WorkItem"]


@dataclass(frozen=True, slots=True)
class WorkItem:
    """A complete activation waiting to run, with the correlation id it belongs to."""

    activation: Activation
    correlation_id: str
    tick: int | None = None


@dataclass(order=True, slots=True)
class _Queued:
    sort_key: tuple[int, int]
    item: WorkItem = field(compare=False)


class Runtime:
    """Holds ready work and delayed artifacts, and drives them until nothing is left to do.

    Idle is an event, not a poll: the loop sleeps on a wake-up event that every state change sets.
    """

    def __init__(self, clock: Clock, max_concurrency: int, agent_limit: Callable[[str], int]) -> None:
        self._clock = clock
        self._max_concurrency = max_concurrency
        self._agent_limit = agent_limit
        self._ready: list[_Queued] = []
        self._delayed: list[tuple[datetime, int, Artifact]] = []
        self._counter = itertools.count()
        self._running: dict[str, int] = {}
        self._running_by_correlation: dict[str, int] = {}
        self._wake = anyio.Event()

    @property
    def in_flight(self) -> int:
        """Activations running now."""
        return sum(self._running.values())

    def pending(self, correlation_id: str | None = None) -> int:
        """Activations queued or running (optionally for one workflow)."""
        queued = sum(1 for q in self._ready if correlation_id in (None, q.item.correlation_id))
        if correlation_id is None:
            return queued + self.in_flight
        return queued + self._running_by_correlation.get(correlation_id, 0)

    def delayed(self, correlation_id: str | None = None) -> int:
        """Artifacts waiting to become visible (optionally for one workflow)."""
        return sum(1 for _, _, a in self._delayed if correlation_id in (None, a.correlation_id))

    def submit(self, item: WorkItem) -> None:
        """Queue an activation; higher priority first, then first come first served."""
        heapq.heappush(self._ready, _Queued((-item.activation.priority, next(self._counter)), item))
        self._wake.set()

    def delay(self, artifact: Artifact, until: datetime) -> None:
        """Route `artifact` again once the clock reaches `until`."""
        heapq.heappush(self._delayed, (until, next(self._counter), artifact))
        self._wake.set()

    def _take_startable(self) -> list[WorkItem]:
        started: list[WorkItem] = []
        blocked: list[_Queued] = []
        while self._ready and self.in_flight + len(started) < self._max_concurrency:
            queued = heapq.heappop(self._ready)
            agent = queued.item.activation.agent
            if self._running.get(agent, 0) >= self._agent_limit(agent):
                blocked.append(queued)
                continue
            self._running[agent] = self._running.get(agent, 0) + 1
            cid = queued.item.correlation_id
            self._running_by_correlation[cid] = self._running_by_correlation.get(cid, 0) + 1
            started.append(queued.item)
        for queued in blocked:
            heapq.heappush(self._ready, queued)
        return started

    def _finish(self, item: WorkItem) -> None:
        agent, cid = item.activation.agent, item.correlation_id
        self._running[agent] -= 1
        self._running_by_correlation[cid] -= 1
        if not self._running_by_correlation[cid]:
            del self._running_by_correlation[cid]
        self._wake.set()

    async def drive(
        self,
        run_item: Callable[[WorkItem], Awaitable[None]],
        reroute: Callable[[Artifact], Awaitable[None]],
        stop: Callable[[], bool] = lambda: False,
    ) -> None:
        """Run work until idle (nothing ready, running or delayed) or until `stop()` is true."""

        async def run_and_finish(item: WorkItem) -> None:
            try:
                await run_item(item)
            finally:
                self._finish(item)

        async with anyio.create_task_group() as group:
            while not stop():
                self._wake = anyio.Event()
                await self._release_due(reroute)
                for item in self._take_startable():
                    group.start_soon(run_and_finish, item)
                if self.in_flight or self._ready:
                    with anyio.move_on_after(self._seconds_to_next_delay()):
                        await self._wake.wait()
                elif self._delayed:
                    await self._clock.sleep_until(self._delayed[0][0])
                else:
                    return

    def _seconds_to_next_delay(self) -> float:
        if not self._delayed:
            return float("inf")
        return max(0.0, (self._delayed[0][0] - self._clock.now()).total_seconds())

    async def _release_due(self, reroute: Callable[[Artifact], Awaitable[None]]) -> None:
        while self._delayed and self._delayed[0][0] <= self._clock.now():
            _, _, artifact = heapq.heappop(self._delayed)
            await reroute(artifact)
