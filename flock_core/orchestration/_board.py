"""The board strategy: how this process stores its steps and where its work comes from.

A `LocalBoard` (one process owns the board) routes new artifacts at once and runs the work they complete
here; a `SharedBoard` (`_router.py`: several processes share a store) leaves routing to whichever process
leads and claims work from the store's queue. The orchestrator picks one when it is built and never asks
which it has.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol
from uuid import UUID

import anyio

from .._clock import Clock, utcnow
from ..agents._spec import AgentSpec
from ..blackboard._artifacts import Artifact
from ..blackboard._leases import may_lease
from ..blackboard._store import ArtifactQuery, BlackboardStore, ExclusiveBoard
from ..blackboard._work import Commit, ExpiredJoin, TimerState, WorkRecord
from ..blackboard.memory._store import InMemoryBlackboardStore
from ..exceptions import ConfigurationError
from ._resume import SkippedWork
from ._routing import Routed, Routing
from ._runtime import Runtime, WorkItem

__all__ = ["Board", "LocalBoard", "Resumed"]


@dataclass(frozen=True, slots=True)
class Resumed:
    """What a board recovered from its store when the run started.

    Attributes:
        resumed: stored work items queued again.
        orphaned: stored work items of agents that are no longer declared (left in the store).
        skipped: stored work items leased by another owner that may be alive, with the reason (only on a
            store that cannot be held: holding a board proves every lease on it abandoned).
        expired_joins: join groups that had expired before.
        routed: the work the stored artifacts complete, to commit.
        timers: the last tick of each scheduled agent; `None` when this process does not arm timers now.
    """

    resumed: int = 0
    orphaned: int = 0
    skipped: tuple[SkippedWork, ...] = ()
    expired_joins: tuple[ExpiredJoin, ...] = ()
    routed: Routed = field(default_factory=Routed)
    timers: Mapping[str, TimerState] | None = None


class Board(Protocol):
    """How one process takes part in a board: one implementation, chosen when the `Flock` is built."""

    @property
    def lease(self) -> timedelta | None:
        """How long a claimed work item stays claimed (`None`: nothing is claimed, a local board)."""
        ...

    @property
    def poll_interval(self) -> float | None:
        """How often a busy process looks for outside work (`None`: never)."""
        ...

    async def route(self, artifacts: Sequence[Artifact]) -> Routed:
        """The work new artifacts complete, to commit with them (nothing where a router routes them later)."""
        ...

    async def commit(self, commit: Commit) -> bool:
        """Apply one step atomically; False when the work item it completes was already finished."""
        ...

    def accept(self, items: Sequence[WorkItem]) -> None:
        """Committed work items that this process runs now (none where every process claims its work)."""
        ...

    def defer(self, item: WorkItem, when: datetime) -> None:
        """Run a work item that is pending again (a retry) once the clock reaches `when`.

        Nothing where every process claims its work: the store's claims wait for `retry_at` themselves.
        """
        ...

    async def unroute(self, artifacts: Sequence[Artifact], items: Sequence[WorkItem], *, again: bool) -> Routed:
        """Undo `route` for a step that was not stored; with `again`, returns the work its other inputs complete."""
        ...

    def steps(self) -> AbstractAsyncContextManager[object]:
        """Held while one step is routed and committed (on a local board, by one step at a time)."""
        ...

    async def resume(self) -> Resumed:
        """Recover what the store holds when the run starts."""
        ...

    async def backlog(self) -> int:
        """Work waiting in a shared store (unrouted, pending, claimed, open groups); 0 for a local board."""
        ...

    async def requeue(self, key: str) -> bool:
        """Put a failed work item back in the queue; returns whether it was failed."""
        ...

    async def readmit(self, correlation_id: str | None) -> None:
        """Queue again the pending work of a resumed workflow (`None`: of every workflow)."""
        ...

    async def pull(self, capacity: int) -> None:
        """Bring in up to `capacity` work items from outside this process."""
        ...

    async def settled(self) -> bool:
        """Whether the whole board is done, other processes included."""
        ...

    async def wait_external(self) -> None:
        """Wait for another process to change the board."""
        ...

    def serving(self, agents: frozenset[str] | None) -> AbstractContextManager[None]:
        """While open: keep working until cancelled, claiming only `agents`' work (`None`: every agent's)."""
        ...

    def stop_claiming(self) -> None:
        """Claim no more work (work already here still runs)."""
        ...


class LocalBoard:
    """One process owns the board: new artifacts are routed at once and their work runs here.

    Args:
        store: the system of record.
        routing: the scheduler front that routes artifacts.
        runtime: where accepted work runs.
        agents: the declared agents (stored work of others is orphaned on resume).
    """

    def __init__(
        self,
        store: BlackboardStore,
        routing: Routing,
        runtime: Runtime,
        agents: Mapping[str, AgentSpec],
        clock: Clock,
    ) -> None:
        self._clock = clock
        self._store = store
        self._routing = routing
        self._runtime = runtime
        self._agents = agents
        self._steps = anyio.Lock(fast_acquire=True)  # taken per step: a free lock must not yield
        # a store whose steps can be applied synchronously (see `InMemoryBlackboardStore.at_once`), else None
        self._memory = store if isinstance(store, InMemoryBlackboardStore) and store.at_once() is not None else None

    @property
    def lease(self) -> timedelta | None:
        return None

    @property
    def poll_interval(self) -> float | None:
        return None

    async def route(self, artifacts: Sequence[Artifact]) -> Routed:
        return await self._routing.route(artifacts)

    async def commit(self, commit: Commit) -> bool:
        return await self._store.commit(commit)

    def lands_at_once(self, commit: Commit) -> bool:
        """Whether `commit` can be stored now without waiting and will not be refused: the store commits in
        memory, no step is under way, and the work item it completes, if any, is not finished. True stays
        true until the caller next awaits."""
        if self._memory is None or self._steps.locked():
            return False
        return commit.complete is None or self._memory.completes(commit.complete)

    def commit_at_once(self, commit: Commit) -> bool:
        """Store a step synchronously (only when `lands_at_once`): nothing else runs until it returns."""
        assert self._memory is not None
        return self._memory.commit_at_once(commit)

    def accept(self, items: Sequence[WorkItem]) -> None:
        for item in items:
            self._runtime.submit(item)

    def defer(self, item: WorkItem, when: datetime) -> None:
        async def due() -> None:
            self._runtime.submit(item)

        self._runtime.call_at(when, due, hard=True, kind="retry", correlation_id=item.correlation_id)

    async def backlog(self) -> int:
        return 0  # everything a local board holds is counted in this process

    async def _admit(self, record: WorkRecord) -> None:
        """Queue a stored pending item now, or when its retry is due."""
        item = WorkItem(record, tuple(await self._store.get_many(record.input_ids)))
        if record.retry_at is not None and record.retry_at > self._clock.now():
            self.defer(item, record.retry_at)
        else:
            self.accept([item])

    async def unroute(self, artifacts: Sequence[Artifact], items: Sequence[WorkItem], *, again: bool) -> Routed:
        return await self._routing.unroute(artifacts, items, again=again)

    def steps(self) -> AbstractAsyncContextManager[object]:
        """One step at a time: routing puts an artifact in a gate, join or batch before its step is stored,
        so a work item completed by a later step could otherwise be stored before an input it names (and
        a crash in between would leave it naming an artifact that was never stored)."""
        return self._steps

    async def resume(self) -> Resumed:
        """Replay the board: pending work, partial gates, joins and batches, timers."""
        store = self._store
        expired = tuple(await store.expired_joins())
        seen = await store.consumed_pairs()
        seen |= {(e.agent, UUID(i)) for e in expired for i in e.artifact_ids}
        self._routing.replay(seen)
        if isinstance(store, ExclusiveBoard):  # held by this run (`Orchestrator.start`): every lease is abandoned
            await store.release([r.key for r in await store.work(("leased",))])
        now = utcnow()
        resumed = orphaned = 0
        skipped: list[SkippedWork] = []
        for record in await store.work(("pending", "leased")):
            if record.agent not in self._agents:
                orphaned += 1
            elif record.status == "leased" and not may_lease(record, None, now):
                reason = f"leased by {record.lease_owner} until {record.lease_until}; a start after that runs it"
                skipped.append(SkippedWork(record.key, record.agent, reason))
            else:
                await self._admit(record)
                resumed += 1
        routed = await self._routing.route((await store.query(ArtifactQuery())).items)
        timers = {t.agent: t for t in await store.timer_states()}
        return Resumed(resumed, orphaned, tuple(skipped), expired, routed, timers)

    async def requeue(self, key: str) -> bool:
        requeued = await self._store.requeue(key)
        if requeued:
            [record] = [r for r in await self._store.work(("pending",)) if r.key == key]
            await self._admit(record)
        return requeued

    async def readmit(self, correlation_id: str | None) -> None:
        held = set(self._runtime.held_keys())
        for record in await self._store.work(("pending",)):
            if record.key not in held and correlation_id in (None, record.correlation_id):
                await self._admit(record)

    async def pull(self, capacity: int) -> None:
        return None

    async def settled(self) -> bool:
        return True

    async def wait_external(self) -> None:
        return None

    @contextmanager
    def serving(self, agents: frozenset[str] | None) -> Generator[None]:
        raise ConfigurationError("run_worker() needs a shared store (for example PostgresBlackboardStore)")
        yield

    def stop_claiming(self) -> None:
        return None
