"""Steps: every change a run makes to the board is routed, stored as one atomic commit, then announced.

A step routes new artifacts, stores them with the work they complete (and whatever else it carries: the
completion of an activation, timers, approvals) in one store commit, tells the listeners and hands the
work to the board. A step is never applied half-way: one that waits (for the step lock, an embedding, an
activation condition, a store on disk) is shielded from cancellation, so a run cancelled at that moment
still stores what a finished activation produced (its model calls are paid for).

On an in-memory local board most steps wait for nothing: the lock is free, no subscription needs an
embedding, no activation condition is pending, the store commits in memory, and the work item a step
completes is not finished (a cancelled one refuses the step, which is then routed again). Such a step,
a publish or an activation's outputs, runs without the lock and without a cancel scope (about a third
of a publish's time, a tenth of an activation's): it is synchronous code, so no other task runs until it
ends (the lock could not be taken meanwhile, the work item not finished) and no cancellation can reach
it half-way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Sequence

import anyio

from ..blackboard._artifacts import Artifact
from ..blackboard._work import Commit, ExpiredJoin
from ._board import Board, LocalBoard
from ._deferral import DeferredActivations
from ._events import ArtifactPublished, EventBus
from ._routing import Routed, Routing
from ._runtime import WorkItem

__all__ = ["Steps"]

_log = logging.getLogger("flock_core")


def _workflows(commit: Commit) -> set[str] | None:
    """The workflows a commit added artifacts to; `None` (all) for a commit without any (resume)."""
    return {a.correlation_id for a in commit.artifacts} if commit.artifacts else None


class Steps:
    """Applies the steps of one `Flock`'s run, one at a time.

    Args:
        board: where steps are stored (local or shared).
        routing: the scheduler front (a local board's steps are routed here without waiting when they can).
        deferred: activations held by their activation condition.
        events: the run's event bus.
        on_expired: reports join groups that expired on the way.
    """

    def __init__(
        self,
        board: Board,
        routing: Routing,
        deferred: DeferredActivations,
        events: EventBus,
        on_expired: Callable[[Collection[ExpiredJoin]], None],
    ) -> None:
        self.listeners: list[Callable[[Artifact], None]] = []
        self._board = board
        self._routing = routing
        self._deferred = deferred
        self._events = events
        self._on_expired = on_expired
        self._local = board if isinstance(board, LocalBoard) else None

    async def step(self, commit: Commit, artifacts: Sequence[Artifact]) -> bool:
        """Route `artifacts` and store them with `commit` and the work they complete, as one step.

        Returns False when the store refused it (the work item it completes was finished meanwhile).
        """
        held: list[WorkItem] = []
        routed = self._route_at_once(commit, artifacts)
        if routed is not None:
            if routed.items and self._deferred.conditional:  # else nothing to hold
                routed, held = self._split(routed)
            if not held:
                return self._commit_at_once(commit, routed)
        landed = False
        with anyio.CancelScope(shield=True):
            async with self._board.steps():  # free when routed above: taken without waiting
                if routed is None:
                    routed, held = self._split(await self._board.route(artifacts))
                landed = await self._store(commit, routed, held)
        return landed

    def at_once(self, commit: Commit, artifacts: Sequence[Artifact]) -> bool | None:
        """`step`, synchronously when it needs no waiting; `None`: nothing was routed or stored, call `step`.

        Most steps on an in-memory board (no activation condition declared) land here: one coroutine fewer
        per publish and per activation.
        """
        if self._deferred.conditional:  # work may be held: `step` splits it and stores it under the step lock
            return None
        routed = self._route_at_once(commit, artifacts)
        return None if routed is None else self._commit_at_once(commit, routed)

    def _route_at_once(self, commit: Commit, artifacts: Sequence[Artifact]) -> Routed | None:
        """The routed work of a step that can be applied without waiting; `None`: nothing was routed."""
        local = self._local
        if (
            local is None
            or commit.decide is not None
            or not local.lands_at_once(commit)  # one that would be refused is routed again, maybe with embeddings
            or self._deferred.waiting()  # this step's artifacts may release held work: conditions are awaited
        ):
            return None
        return self._routing.route_at_once(artifacts)

    def _commit_at_once(self, commit: Commit, routed: Routed) -> bool:
        """Store a step that decides nothing and completes nothing finished (so it lands), synchronously."""
        assert self._local is not None
        try:
            landed = self._local.commit_at_once(routed.into(commit) if routed.items or routed.expired else commit)
        except Exception:
            self._routing.forget_step(commit.artifacts, routed.items)  # nothing was stored
            raise
        assert landed, "lands_at_once said it would land, and nothing ran since"
        self._committed(commit, routed)
        return True

    async def commit(self, commit: Commit, routed: Routed) -> bool:
        """Store one step with the work it completes; then tell listeners and hand the work to the board.

        Work whose activation condition does not hold yet is held (`DeferredActivations`) and committed
        by a later step, once an artifact of its workflow makes the condition true.
        """
        return await self._store(commit, *self._split(routed))

    def _split(self, routed: Routed) -> tuple[Routed, list[WorkItem]]:
        """The work to queue now, and the work its activation condition holds (stored with a later step)."""
        if not routed.items or not self._deferred.conditional:  # most runs declare no activation condition
            return routed, []
        ready, held = self._deferred.split(list(routed.items))
        return (routed if not held else Routed(tuple(ready), routed.expired)), held

    async def _store(self, commit: Commit, routed: Routed, held: list[WorkItem]) -> bool:
        try:
            landed = await self._board.commit(routed.into(commit))
        except Exception:
            await self._board.unroute(commit.artifacts, (*routed.items, *held), again=False)  # nothing was stored
            raise
        if not landed:  # its work item was finished meanwhile: its outputs must not feed later activations
            again = await self._board.unroute(commit.artifacts, (*routed.items, *held), again=True)
            if again.items or again.expired:
                await self.commit(Commit(), again)
            return False
        self._committed(commit, routed)
        if held:
            self._deferred.hold(held)
        if self._deferred.waiting() and (released := await self._deferred.release(_workflows(commit))):
            await self.commit(Commit(), Routed(tuple(released)))
        return True

    def _committed(self, commit: Commit, routed: Routed) -> None:
        """After a step is stored: report expired joins, tell the listeners, hand the work to the board."""
        if routed.expired:
            self._on_expired(routed.expired)
        for artifact in commit.artifacts:
            for listener in self.listeners:
                try:
                    listener(artifact)
                except Exception:  # noqa: BLE001 - the step is committed; a failing listener must not stop the run
                    _log.exception("listener %r raised", listener)
            if self._events.listening:
                self._events.emit(ArtifactPublished(artifact))
        if routed.items:
            self._board.accept(routed.items)
