"""The shared work queue a store offers when several processes run one board (PostgreSQL, shared memory)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from ._artifacts import Artifact
from ._store import BlackboardStore
from ._work import Commit, WorkRecord

__all__ = ["BoardRouting", "BoardState", "Renewal", "SharedQueueStore", "SharedWorkQueue", "shared_store"]


@dataclass(frozen=True, slots=True)
class BoardState:
    """What is left to do on a shared board, across every process.

    Attributes:
        unrouted: artifacts the router has not routed yet.
        pending: work items waiting to be claimed.
        leased: work items being worked on.
        open_groups: inputs waiting in gates, joins and batches, as last reported by the router.
        delayed: delayed artifacts and bounded timer ticks the router still has to release.
    """

    unrouted: int
    pending: int
    leased: int
    open_groups: int
    delayed: int = 0

    @property
    def settled(self) -> bool:
        """Nothing is left to route or run, and no join, batch or delay is open."""
        return not (self.unrouted or self.pending or self.leased or self.open_groups or self.delayed)


@dataclass(frozen=True, slots=True)
class Renewal:
    """What `SharedWorkQueue.renew` found, judged in the same statement that extended the leases.

    Attributes:
        renewed: keys whose lease the owner still held and now holds longer.
        lost: keys that are no longer the owner's: taken over by another process (which may have finished
            them), or returned to pending. Keys the owner itself finished meanwhile are in neither set.
    """

    renewed: frozenset[str] = frozenset()
    lost: frozenset[str] = frozenset()


class BoardRouting(Protocol):
    """The router's side of a shared board: one process at a time routes stored artifacts in order."""

    async def try_lead(self, owner: str) -> bool:
        """Become (or stay) the router; at most one owner leads at a time."""
        ...

    async def unrouted(self, after_seq: int, limit: int) -> list[tuple[int, Artifact]]:
        """Stored artifacts with a sequence number above `after_seq`, oldest first."""
        ...

    async def commit_routing(self, commit: Commit, cursor: int, state: BoardState) -> bool:
        """Apply a routing commit atomically and record the router's cursor and open-group counts.

        Returns False, like `commit`, when the work item it completes was already finished (its outputs
        are then not stored).
        """
        ...

    async def router_cursor(self) -> int:
        """The sequence number of the last routed artifact."""
        ...


class SharedWorkQueue(Protocol):
    """The workers' side of a shared board: claim work with a lease, keep it while it runs, wait for more."""

    async def claim(
        self, owner: str, *, limit: int, agents: Collection[str] | None, lease_until: datetime
    ) -> list[WorkRecord]:
        """Lease up to `limit` pending (or abandoned) work items for `owner`, highest priority first."""
        ...

    async def renew(self, keys: Sequence[str], owner: str, lease_until: datetime) -> Renewal:
        """Extend the leases `owner` still holds among `keys`; say which of the others were lost."""
        ...

    async def board_state(self) -> BoardState:
        """What is left to do, across processes."""
        ...

    async def wait_for_change(self, timeout: float) -> None:
        """Return when another process stored artifacts or work (or after `timeout` seconds)."""
        ...


@runtime_checkable
class SharedQueueStore(BlackboardStore, BoardRouting, SharedWorkQueue, Protocol):
    """A store that several processes share as the system of record and the work queue.

    One process at a time is the **router** (`try_lead`): it routes newly stored artifacts in sequence
    order, so gates and joins see every artifact exactly once, and commits the work they complete
    together with its routing cursor. Every process **claims** work items with a lease; an expired lease
    is claimed again by another process.
    """

    @property
    def shared(self) -> bool:
        """True: run this board in distributed mode."""
        ...


def shared_store(store: BlackboardStore) -> SharedQueueStore | None:
    """`store` as a shared work queue when it asks for distributed mode, else `None`."""
    if isinstance(store, SharedQueueStore) and store.shared:
        return store
    return None
