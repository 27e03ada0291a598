"""Distributed mode: one process routes the shared board; every process claims and runs its work."""

from __future__ import annotations

import logging
from collections.abc import Collection
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from uuid import UUID

from ..blackboard._shared import BoardState, SharedQueueStore
from ..blackboard._work import Commit
from ._runtime import WorkItem
from ._scheduler import Scheduler

if TYPE_CHECKING:
    from ._orchestrator import Orchestrator

__all__ = ["SharedBoard"]

_log = logging.getLogger("flock_core.distributed")
_BATCH = 500


class SharedBoard:
    """The distributed-mode side of an orchestrator.

    The router (whichever process holds the store's lead) routes stored artifacts in sequence order with
    the same scheduler as a local run, so gates, joins and batches see each artifact once, and commits
    the work they complete. A process that becomes the router replays the board (skipping what was
    already consumed), exactly like a restart. Every process claims work items with a lease.
    """

    def __init__(self, core: Orchestrator, store: SharedQueueStore, lease: timedelta) -> None:
        self._core = core
        self._store = store
        self.lease = lease
        self._renew_at: datetime | None = None
        self.leading = False
        self.cursor = 0
        self.serve: Collection[str] | None = None
        self.keep_running = False

    async def route_step(self) -> None:
        """Lead if possible, then route everything stored since the cursor."""
        if not await self._store.try_lead(self._core.worker_id):
            if self.leading:
                _log.warning("worker %s lost the router lead", self._core.worker_id)
            self.leading = False
            return
        if not self.leading:
            await self._take_over()
        while rows := await self._store.unrouted(self.cursor, _BATCH):
            items, expired = self._core.route_all(artifact for _, artifact in rows)
            self.cursor = rows[-1][0]
            commit = Commit(enqueue=tuple(i.record for i in items), expired_joins=tuple(expired))
            await self._store.commit_routing(commit, self.cursor, self.state())
            self._core.report_expired(expired)

    async def _take_over(self) -> None:
        core = self._core
        _log.info("worker %s is now the router; replaying the board", core.worker_id)
        self.leading = True
        self.cursor = 0
        core.scheduler = Scheduler(core.registry, on_reject=core.rejections.append)
        for spec in core.specs.values():
            core.scheduler.update_agent(spec)
        seen = await self._store.consumed_pairs()
        seen |= {(e.agent, UUID(i)) for e in await self._store.expired_joins() for i in e.artifact_ids}
        core.scheduler.mark_seen(seen)
        core.arm_schedules({t.agent: t for t in await self._store.timer_states()})

    def state(self) -> BoardState:
        """The router's view of open groups and pending timers, published with each routing commit."""
        _gates, joins, batches = self._core.scheduler.waiting()
        runtime = self._core.runtime
        delayed = runtime.timers("delayed") + runtime.hard_ticks()
        return BoardState(unrouted=0, pending=0, leased=0, open_groups=joins + batches, delayed=delayed)

    async def commit(self, commit: Commit) -> bool:
        """Apply `commit`; False if its work item was already finished (by a process that took it over).

        A commit made by the router outside `route_step` (outputs, timers, expiries, flushes) also records
        its open groups, so the board's state stays fresh.
        """
        if self.leading:
            return await self._store.commit_routing(commit, self.cursor, self.state())
        return await self._store.commit(commit)

    async def pull(self, capacity: int) -> None:
        """Route (if leading), renew this process's leases when due, then claim up to `capacity` items."""
        await self.route_step()
        await self.renew_leases()
        if capacity <= 0:
            return
        until = self._core.clock.now() + self.lease
        records = await self._store.claim(self._core.worker_id, limit=capacity, agents=self.serve, lease_until=until)
        for record in records:
            inputs = tuple(await self._store.get_many(record.input_ids))
            self._core.runtime.submit(WorkItem(record, inputs))

    async def renew_leases(self) -> None:
        """Extend the leases of the work queued or running here, every third of a lease.

        An activation may run longer than one lease: as long as this process is alive and its loop turns,
        nobody else claims its work. A lease that could not be renewed although its item is unfinished was
        taken over (this process stalled past its lease); the first result committed wins and the other is
        discarded at commit. Items that finished while their leases were being renewed are not warned about.
        """
        now = self._core.clock.now()
        if self._renew_at is not None and now < self._renew_at:
            return
        self._renew_at = now + self.lease / 3
        held = self._core.runtime.held_keys()
        if not held:
            return
        renewal = await self._store.renew(held, self._core.worker_id, now + self.lease)
        # the store judged each key as it renewed: an item that finished meanwhile is not lost
        if lost := sorted(renewal.lost.intersection(self._core.runtime.held_keys())):
            _log.warning("worker %s lost the lease of %d work item(s): %s", self._core.worker_id, len(lost), lost[:5])

    async def settled(self) -> bool:
        """Whether every process is done: nothing unrouted, pending, leased, open or delayed."""
        if self.keep_running:
            return False
        await self.route_step()
        return (await self._store.board_state()).settled

    async def wait_external(self) -> None:
        """Sleep until another process changes the board (or briefly, to retry the lead)."""
        await self._store.wait_for_change(0.25)
