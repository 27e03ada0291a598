"""Forgetting settled workflows: what this process keeps per workflow is dropped once it can no longer matter.

Routing remembers the (agent, artifact) pairs it routed, the loop guard counts each agent's activations
per workflow, the executor sums each workflow's model usage, budgets keep an account per workflow, and
the tracer keeps a workflow's span open. A workflow has **settled** here when nothing of it is queued,
running, waiting for a retry, a delayed artifact or an activation condition, held in a gate, join or
batch, paused, held for approval, or (on a shared board) pending or leased in the store. Its entries are
then dropped, so a long stream of workflows through a bounded queue (`Flock(max_pending=...)`) keeps
memory flat, not only bounded.

What a settled workflow still needs lives in the store (what was consumed, a budget and its spending) or
in a bounded summary (the usage and the stopping limit of the latest `SETTLED_KEPT` settled workflows).
A workflow that runs again after it settled (a conversation's next turn) starts its loop guard count
again: an endless loop never settles, so the guard still stops it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from typing import Protocol

from ..blackboard._store import BlackboardStore

__all__ = ["SETTLED_KEPT", "SWEEP_EVERY", "Keeper", "Settling"]

SETTLED_KEPT = 10_000
"""Settled workflows whose usage (and the budget limit that stopped them) this process still reports."""

SWEEP_EVERY = 1_024
"""Activations between two sweeps, at least (a sweep reads the store's unfinished work and requests)."""


class Keeper(Protocol):
    """Something that keeps state per workflow."""

    def workflows(self) -> set[str]:
        """The workflows it keeps state for."""
        ...

    def forget(self, settled: Collection[str]) -> None:
        """Drop the state of these settled workflows."""
        ...


class Settling:
    """Finds the settled workflows and makes every keeper forget them, every `SWEEP_EVERY` activations or more.

    Args:
        store: the board's store (its pauses and pending approval requests keep workflows busy, and on a
            shared board its unfinished work).
        here: the workflows busy in this process: queued, running or timed work, waiting inputs.
        shared: whether other processes run the board's work too (then the store's unfinished work is read;
            on a local board every unfinished work item is queued here, or paused).
        keepers: what keeps state per workflow.
        end_spans: ends the spans of workflows that are not busy (a local board), or `None`.
    """

    def __init__(
        self,
        store: BlackboardStore,
        here: Iterable[Callable[[], set[str]]],
        *,
        keepers: Iterable[Keeper],
        end_spans: Callable[[Callable[[str], bool]], None] | None,
        shared: bool,
    ) -> None:
        self._store = store
        self._shared = shared
        self._here = tuple(here)
        self._keepers = tuple(keepers)
        self._end_spans = end_spans
        self._since = 0
        self._every = SWEEP_EVERY

    def finished(self) -> None:
        """Count one finished activation."""
        self._since += 1

    @property
    def due(self) -> bool:
        """Whether enough activations finished since the last sweep."""
        return self._since >= self._every

    @property
    def stale(self) -> bool:
        """Whether any activation finished since the last sweep (a run that goes idle sweeps then)."""
        return self._since > 0

    async def sweep(self) -> int:
        """Forget every settled workflow; returns how many were forgotten.

        The next sweep waits for at least twice as many activations as workflows are busy now, so the
        sweeps' cost stays a constant share of the work.
        """
        self._since = 0
        busy = await self.busy()
        if busy is None:  # the whole board is paused: nothing settles now
            return 0
        self._every = max(SWEEP_EVERY, 2 * len(busy))
        if self._end_spans is not None:
            self._end_spans(busy.__contains__)
        kept = [keeper.workflows() for keeper in self._keepers]
        settled = set[str]().union(*kept) - busy
        if settled:
            for keeper in self._keepers:
                keeper.forget(settled)
        return len(settled)

    async def busy(self) -> set[str] | None:
        """The workflows that have not settled (`None`: all, the board is paused): paused, held for
        approval, with work unfinished in a shared store, or busy here.

        The store is read first: what this process holds is read after it, with no await in between, so
        work that moved from here into the store meanwhile is seen on one side or the other.
        """
        paused = await self._store.paused_workflows()
        if None in paused:
            return None
        busy = {cid for cid in paused if cid is not None}
        if self._shared:  # other processes' work; a local board's is all queued here (a queue may be long)
            busy.update(r.correlation_id for r in await self._store.work(("pending", "leased")))
        busy.update(request.correlation_id for request in await self._store.approvals("pending"))
        for workflows in self._here:
            busy |= workflows()
        return busy
