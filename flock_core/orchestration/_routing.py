"""Routing: the work items that stored artifacts complete, and artifacts whose visibility starts later."""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from .._clock import Clock
from .._ids import new_id
from .._records import plain_init
from ..agents._nested import NESTED_TAG
from ..agents._spec import AgentSpec
from ..blackboard._artifacts import Artifact
from ..blackboard._registry import TypeRegistry
from ..blackboard._visibility import PublicVisibility, visible_from
from ..blackboard._work import Commit, ExpiredJoin, Tick, WorkRecord, work_key
from ._collectors import Admits, admit_all
from ._runtime import Runtime, WorkItem
from ._scheduler import Activation, Rejection, Scheduler
from ._semantic import SemanticIndex

__all__ = ["Routed", "Routing"]


@plain_init
@dataclass(frozen=True, slots=True)
class Routed:
    """What routing produced: work items to enqueue and join groups that expired on the way."""

    items: tuple[WorkItem, ...] = ()
    expired: tuple[ExpiredJoin, ...] = ()

    def __add__(self, other: Routed) -> Routed:
        return Routed((*self.items, *other.items), (*self.expired, *other.expired))

    def into(self, commit: Commit) -> Commit:
        """`commit` with these work items enqueued and these expiries saved, in the same transaction."""
        if not self.items and not self.expired:  # most steps of an unsubscribed type: nothing to add
            return commit
        items = self.items
        records = (items[0].record,) if len(items) == 1 else tuple([item.record for item in items])
        return commit.adding(records, self.expired)


_NOTHING = Routed()


class Routing:
    """Runs stored artifacts through the scheduler and turns complete activations into work items.

    An artifact whose visibility starts later is routed when it becomes visible: a hard timer on the
    runtime hands the routed work to `release`, which commits it.

    Args:
        registry: the payload types (the scheduler validates `where=` predicates against them).
        clock: the time source.
        timers: the runtime whose timers release delayed artifacts.
        release: commits the work a delayed artifact completes once it is visible.
        semantic: the embedder and embedding cache of semantic subscriptions.
    """

    def __init__(
        self,
        registry: TypeRegistry,
        clock: Clock,
        timers: Runtime,
        release: Callable[[Artifact], Awaitable[object]],
        semantic: SemanticIndex | None = None,
    ) -> None:
        self.rejections: deque[Rejection] = deque(maxlen=1000)
        self._registry = registry
        self._clock = clock
        self._timers = timers
        self._release = release
        self._specs: dict[str, AgentSpec] = {}
        self._semantic = semantic or SemanticIndex()
        self._scheduler = Scheduler(registry, on_reject=self.rejections.append, semantic=self._semantic)

    def update_agent(self, spec: AgentSpec) -> None:
        """Route to a new or changed declaration from now on."""
        self._specs[spec.name] = spec
        self._scheduler.update_agent(spec)

    def replay(self, seen: Iterable[tuple[str, UUID]]) -> None:
        """Start over with empty gates, joins and batches; `seen` (agent, artifact) pairs are not routed again."""
        self._scheduler = Scheduler(self._registry, on_reject=self.rejections.append, semantic=self._semantic)
        for spec in self._specs.values():
            self._scheduler.update_agent(spec)
        self._scheduler.mark_seen(seen)

    async def route(self, artifacts: Iterable[Artifact]) -> Routed:
        """The work `artifacts` complete now; a delayed artifact is routed again when it becomes visible.

        Artifacts that semantic subscriptions may take are embedded first (awaited, cached per artifact).
        A nested workflow's artifacts (tagged `NESTED_TAG`) are on the board for lineage only: never routed.
        """
        items: list[WorkItem] = []
        expired: list[ExpiredJoin] = []
        now = self._clock.now()
        for artifact in artifacts:
            if self._held_back(artifact, now):
                continue
            if not self._scheduler.takes(artifact.type):
                continue
            conditions = self._scheduler.semantic_conditions(artifact, now)
            if conditions:
                await self._semantic.prepare(artifact, conditions)
            self._take(artifact, now, items, expired)
        return Routed(tuple(items), tuple(expired)) if items or expired else _NOTHING

    def route_at_once(self, artifacts: Sequence[Artifact]) -> Routed | None:
        """What `route` returns, without waiting; `None` (and nothing routed) when an artifact may need embedding."""
        if self._scheduler.may_embed(artifacts):
            return None
        items: list[WorkItem] = []
        expired: list[ExpiredJoin] = []
        now: datetime | None = None  # read once, and only when needed: most steps route nothing
        for artifact in artifacts:
            # a public artifact outside a nested workflow is never held back (most are): no need to ask
            if type(artifact.visibility) is not PublicVisibility or NESTED_TAG in artifact.tags:
                now = now or self._clock.now()
                if self._held_back(artifact, now):
                    continue
            if self._scheduler.takes(artifact.type):
                now = now or self._clock.now()
                ready, gone = self._scheduler.route(artifact, now)  # `_take`, inline (one call less per step)
                for activation in ready:
                    items.append(work_item(activation))
                if gone:
                    expired.extend(gone)
        return Routed(tuple(items), tuple(expired)) if items or expired else _NOTHING

    def _held_back(self, artifact: Artifact, now: datetime) -> bool:
        """Whether `artifact` is not routed now: a nested workflow's (never), or a delayed one (once visible)."""
        if NESTED_TAG in artifact.tags:
            return True
        visible_at = visible_from(artifact.visibility, artifact.created_at)
        if visible_at > now:
            self._delay(artifact, visible_at)
            return True
        return False

    def _take(self, artifact: Artifact, now: datetime, items: list[WorkItem], expired: list[ExpiredJoin]) -> None:
        """Route `artifact`, of a type some subscription takes (the caller asked `takes`)."""
        ready, gone = self._scheduler.route(artifact, now)
        for activation in ready:
            items.append(work_item(activation))
        if gone:
            expired.extend(gone)

    async def unroute(self, artifacts: Iterable[Artifact], items: Iterable[WorkItem], *, again: bool) -> Routed:
        """Undo the routing of a step that was not stored (its commit was refused or failed).

        `artifacts` (the step's outputs, never stored) leave every open group and batch, so no later
        activation takes them. The other inputs of the step's work `items` become routable again: with
        `again`, they are routed now and the work they complete is returned; without (the store failed),
        they wait for the next start, which routes every stored artifact not yet consumed.
        """
        returned = self.forget_step(artifacts, items)
        if not again:
            return Routed()
        return await self.route({a.id: a for a in returned.values()}.values())

    def forget_step(self, artifacts: Iterable[Artifact], items: Iterable[WorkItem]) -> dict[tuple[str, UUID], Artifact]:
        """`unroute` without routing again; returns the `(agent, artifact id)` pairs that may be taken again."""
        ids = {a.id for a in artifacts}
        returned: dict[tuple[str, UUID], Artifact] = {}
        for item in items:
            returned.update(((item.agent, a.id), a) for a in item.inputs if a.id not in ids)
        broken = self._scheduler.forget(ids, returned)
        returned.update(((agent, a.id), a) for agent, a in broken)
        return returned

    def _delay(self, artifact: Artifact, visible_at: datetime) -> None:
        async def release() -> None:
            await self._release(artifact)

        self._timers.call_at(visible_at, release, hard=True, kind="delayed", correlation_id=artifact.correlation_id)

    def expire_due(self, now: datetime) -> Routed:
        """Expire joins and flush timed-out batches due at `now`."""
        ready, expired = self._scheduler.expire_due(now)
        return Routed(tuple(work_item(a) for a in ready), tuple(expired))

    def flush_on_idle(self) -> Routed:
        """Flush the partial batches that ask for it when the run goes idle."""
        return Routed(tuple(work_item(a) for a in self._scheduler.flush_on_idle()))

    def next_deadline(self) -> datetime | None:
        """The next join expiry or batch timeout."""
        return self._scheduler.next_deadline()

    def waiting(self, correlation_id: str | None = None, admits: Admits = admit_all) -> tuple[int, int, int]:
        """Artifacts waiting in (gates, joins, batches), optionally for one workflow, counting those `admits`."""
        return self._scheduler.waiting(correlation_id, admits)

    def waiting_workflows(self) -> set[str]:
        """The workflows with artifacts waiting in a gate, join or batch."""
        return self._scheduler.waiting_workflows()

    def workflows(self) -> set[str]:
        """The workflows whose routed (agent, artifact) pairs are remembered."""
        return self._scheduler.routed_workflows()

    def forget(self, settled: Collection[str]) -> None:
        """Forget what was routed in settled workflows."""
        self._scheduler.forget_workflows(settled)

    def routed_pairs(self) -> int:
        """How many routed (agent, artifact) pairs the scheduler remembers."""
        return self._scheduler.routed_pairs()

    def delayed(self, correlation_id: str | None = None) -> int:
        """Delayed artifacts not visible yet (optionally in one workflow)."""
        return self._timers.timers("delayed", correlation_id)


def work_item(activation: Activation, tick: Tick | None = None) -> WorkItem:
    """The stored work record of a complete activation (a timer tick's has no inputs)."""
    inputs = activation.inputs
    input_ids = (inputs[0].id,) if len(inputs) == 1 else tuple([a.id for a in inputs])
    if len(inputs) == 1:
        correlation_id = inputs[0].correlation_id
    else:
        cids = {a.correlation_id for a in inputs}
        correlation_id = cids.pop() if len(cids) == 1 else str(new_id())
    key = work_key(activation.agent, input_ids, tick)
    record = WorkRecord(
        key, activation.agent, activation.subscription, input_ids, correlation_id, activation.priority,
        activation.batched, tick,
    )  # fmt: skip
    return WorkItem(record, inputs)
