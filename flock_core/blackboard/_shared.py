"""The shared work queue a store offers when several processes run one board (PostgreSQL, shared memory)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from ._artifacts import Artifact
from ._store import BlackboardStore
from ._work import Commit, WorkRecord

__all__ = ["BoardState", "SharedQueueStore", "shared_store"]


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


@runtime_checkable
class SharedQueueStore(BlackboardStore, Protocol):
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

    async def claim(
        self, owner: str, *, limit: int, agents: Collection[str] | None, lease_until: datetime
    ) -> list[WorkRecord]:
        """Lease up to `limit` pending (or abandoned) work items for `owner`, highest priority first."""
        ...

    async def renew(self, keys: Sequence[str], owner: str, lease_until: datetime) -> frozenset[str]:
        """Extend the leases `owner` still holds among `keys`; returns the keys it extended."""
        ...

    async def board_state(self) -> BoardState:
        """What is left to do, across processes."""
        ...

    async def wait_for_change(self, timeout: float) -> None:
        """Return when another process stored artifacts or work (or after `timeout` seconds)."""
        ...


def shared_store(store: BlackboardStore) -> SharedQueueStore | None:
    """`store` as a shared work queue when it asks for distributed mode, else `None`."""
    if isinstance(store, SharedQueueStore) and store.shared:
        return store
    return None
