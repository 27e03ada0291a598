"""Distributed mode: one process routes the shared board; every process claims and runs its work."""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, contextmanager, nullcontext
from datetime import datetime, timedelta
from uuid import UUID

from .._clock import Clock
from ..blackboard._artifacts import Artifact
from ..blackboard._shared import BoardState, SharedQueueStore
from ..blackboard._work import Commit, ExpiredJoin, TimerState
from ._board import Resumed
from ._routing import Routed, Routing
from ._runtime import Runtime, WorkItem

__all__ = ["SharedBoard"]

_log = logging.getLogger("flock_core.distributed")
_BATCH = 500


class SharedBoard:
    """The board strategy of a store that several processes share.

    The router (whichever process holds the store's lead) routes stored artifacts in sequence order with
    the same scheduler as a local run, so gates, joins and batches see each artifact once, and commits
    the work they complete. A process that becomes the router replays the board (skipping what was
    already consumed), exactly like a restart. Every process claims work items with a lease.

    Args:
        queue: the shared store and work queue.
        routing: routes artifacts while this process leads.
        runtime: where claimed work runs; its timers count as open work on the board.
        clock: the time source for leases.
        worker_id: this process's identity for leases and the lead.
        lease: how long a claimed work item stays claimed.
        on_lead: arms the scheduled agents' timers (from their last ticks) when this process takes the lead.
        on_expired: reports join groups that expired while routing.
    """

    def __init__(
        self,
        queue: SharedQueueStore,
        *,
        routing: Routing,
        runtime: Runtime,
        clock: Clock,
        worker_id: str,
        lease: timedelta,
        on_lead: Callable[[Mapping[str, TimerState]], None],
        on_expired: Callable[[Sequence[ExpiredJoin]], None],
    ) -> None:
        self._queue = queue
        self._routing = routing
        self._runtime = runtime
        self._clock = clock
        self._worker_id = worker_id
        self._on_lead = on_lead
        self._on_expired = on_expired
        self.lease = lease
        self._renew_at: datetime | None = None
        self._leading = False
        self._cursor = 0
        self._agents: frozenset[str] | None = None
        self._keep_running = False

    @property
    def poll_interval(self) -> float | None:
        """A busy process looks for shared work every 50 ms."""
        return 0.05

    async def route(self, artifacts: Sequence[Artifact]) -> Routed:
        """Nothing now: the router routes stored artifacts in sequence order."""
        return Routed()

    def accept(self, items: Sequence[WorkItem]) -> None:
        """Nothing: committed work waits in the store until a process claims it."""

    def defer(self, item: WorkItem, when: datetime) -> None:
        """Nothing: the store's claims take a retried item once its `retry_at` has passed."""

    async def unroute(self, artifacts: Sequence[Artifact], items: Sequence[WorkItem], *, again: bool) -> Routed:
        """Nothing: only stored artifacts are routed here."""
        return Routed()

    def steps(self) -> AbstractAsyncContextManager[object]:
        """Steps commit side by side: the router routes only artifacts that are already stored."""
        return nullcontext()

    async def resume(self) -> Resumed:
        """Nothing to recover here: the router replays when it takes the lead, and abandoned work is claimed
        again once its lease expires."""
        return Resumed()

    async def requeue(self, key: str) -> bool:
        return await self._queue.requeue(key)

    async def backlog(self) -> int:
        """The shared store's unrouted, pending and claimed work and open groups, across every process."""
        state = await self._queue.board_state()
        return state.unrouted + state.pending + state.leased + state.open_groups

    async def readmit(self, correlation_id: str | None) -> None:
        return None  # the resumed work is claimed from the store, by this process or another

    async def route_step(self) -> None:
        """Lead if possible, then route everything stored since the cursor."""
        if not await self._queue.try_lead(self._worker_id):
            if self._leading:
                _log.warning("worker %s lost the router lead", self._worker_id)
            self._leading = False
            return
        if not self._leading:
            await self._take_over()
        while rows := await self._queue.unrouted(self._cursor, _BATCH):
            routed = await self._routing.route(artifact for _, artifact in rows)
            self._cursor = rows[-1][0]
            await self._queue.commit_routing(routed.into(Commit()), self._cursor, self.state())
            self._on_expired(routed.expired)

    async def _take_over(self) -> None:
        _log.info("worker %s is now the router; replaying the board", self._worker_id)
        self._leading = True
        self._cursor = 0
        seen = await self._queue.consumed_pairs()
        seen |= {(e.agent, UUID(i)) for e in await self._queue.expired_joins() for i in e.artifact_ids}
        self._routing.replay(seen)
        self._on_lead({t.agent: t for t in await self._queue.timer_states()})

    def state(self) -> BoardState:
        """The router's view of open groups and pending timers, published with each routing commit."""
        _gates, joins, batches = self._routing.waiting()
        delayed = self._runtime.timers("delayed") + self._runtime.hard_ticks()
        return BoardState(unrouted=0, pending=0, leased=0, open_groups=joins + batches, delayed=delayed)

    async def commit(self, commit: Commit) -> bool:
        """Apply `commit`; False if its work item was already finished (by a process that took it over).

        A commit made by the router outside `route_step` (outputs, timers, expiries, flushes) also records
        its open groups, so the board's state stays fresh.
        """
        if self._leading:
            return await self._queue.commit_routing(commit, self._cursor, self.state())
        return await self._queue.commit(commit)

    async def pull(self, capacity: int) -> None:
        """Route (if leading), renew this process's leases when due, then claim up to `capacity` items."""
        await self.route_step()
        await self.renew_leases()
        if capacity <= 0:
            return
        until = self._clock.now() + self.lease
        records = await self._queue.claim(self._worker_id, limit=capacity, agents=self._agents, lease_until=until)
        for record in records:
            inputs = tuple(await self._queue.get_many(record.input_ids))
            self._runtime.submit(WorkItem(record, inputs))

    async def renew_leases(self) -> None:
        """Extend the leases of the work queued or running here, every third of a lease.

        An activation may run longer than one lease: as long as this process is alive and its loop turns,
        nobody else claims its work. A lease that could not be renewed although its item is unfinished was
        taken over (this process stalled past its lease); the first result committed wins and the other is
        discarded at commit. Items that finished while their leases were being renewed are not warned about.
        Work of a workflow cancelled elsewhere is stopped here: queued items are dropped, running ones
        cancelled.
        """
        now = self._clock.now()
        if self._renew_at is not None and now < self._renew_at:
            return
        self._renew_at = now + self.lease / 3
        held = self._runtime.held_keys()
        if not held:
            return
        renewal = await self._queue.renew(held, self._worker_id, now + self.lease)
        # the store judged each key as it renewed: an item this process finished meanwhile is not lost
        if not (lost := sorted(renewal.lost.intersection(self._runtime.held_keys()))):
            return
        cancelled = await self._queue.cancelled_workflows()
        stopped = frozenset(k for k in lost if self._runtime.workflow_of(k) in cancelled)
        if stopped:
            self._runtime.cancel(keys=stopped)
        if taken := [k for k in lost if k not in stopped]:
            _log.warning("worker %s lost the lease of %d work item(s): %s", self._worker_id, len(taken), taken[:5])

    async def settled(self) -> bool:
        """Whether every process is done: nothing unrouted, pending, leased, open or delayed."""
        if self._keep_running:
            return False
        await self.route_step()
        return (await self._queue.board_state()).settled

    async def wait_external(self) -> None:
        """Sleep until another process changes the board (or briefly, to retry the lead)."""
        await self._queue.wait_for_change(0.25)

    @contextmanager
    def serving(self, agents: frozenset[str] | None) -> Generator[None]:
        """While open: keep working until cancelled, claiming only `agents`' work (`None`: every agent's)."""
        self._agents = agents
        self._keep_running = True
        try:
            yield
        finally:
            self._keep_running = False

    def stop_claiming(self) -> None:
        """Claim no more work; what was claimed still runs (and its leases are still renewed)."""
        self._agents = frozenset()
