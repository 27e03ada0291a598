"""Routing: which agents an artifact activates, and when their inputs are complete."""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Hashable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple
from uuid import UUID

from ..agents._semantic import Semantic
from ..agents._spec import AgentSpec, Subscription
from ..blackboard._artifacts import Artifact
from ..blackboard._registry import TypeRegistry
from ..blackboard._visibility import PublicVisibility, is_visible
from ..blackboard._work import ExpiredJoin
from ._collectors import Admits, BatchCollector, Group, GroupCollector, admit_all
from ._semantic import SemanticIndex

__all__ = ["Activation", "Rejection", "Scheduler"]

_log = logging.getLogger("flock_core.scheduler")


class Activation(NamedTuple):
    """A complete set of inputs for one agent: becomes one work item (a tuple: one is made per routed
    artifact and turned into its work item at once, and a tuple is built in a third of a dataclass's time)."""

    agent: str
    subscription: int
    inputs: tuple[Artifact, ...]
    priority: int = 0
    batched: bool = False

    @property
    def key(self) -> tuple[str, tuple[UUID, ...]]:
        """Idempotency key: the agent and its sorted input ids."""
        return self.agent, tuple(sorted(a.id for a in self.inputs))


@dataclass(frozen=True, slots=True)
class Rejection:
    """An artifact that an agent subscribed to but did not accept, and why (for tracing and tests)."""

    agent: str
    artifact_id: UUID
    reason: str


def _ignore(_rejection: Rejection) -> None:
    return None


class Scheduler:
    """Finds subscribers by type (an index, not a scan), filters them, and completes their inputs.

    AND/count gates are scoped to the correlation id, joins to their key; completed groups go straight
    to an activation, or into a batch.
    """

    def __init__(
        self,
        registry: TypeRegistry,
        on_reject: Callable[[Rejection], None] | None = None,
        semantic: SemanticIndex | None = None,
    ) -> None:
        self._registry = registry
        self._semantic = semantic or SemanticIndex()
        self._agents: dict[str, AgentSpec] = {}
        self._index: dict[str, list[tuple[str, int]]] = {}
        self._semantic_types: set[str] = set()  # types some subscription takes under semantic conditions
        self._groups: dict[tuple[str, int], GroupCollector] = {}
        self._batches: dict[tuple[str, int], BatchCollector] = {}
        # (agent, artifact id) pairs routed, with the artifact's workflow (None: marked on resume, not met yet);
        # the id as its integer: hashing it is C code, not `UUID.__hash__`
        self._seen: dict[tuple[str, int], str | None] = {}
        self._on_reject: Callable[[Rejection], None] = on_reject or _ignore

    def mark_seen(self, pairs: Iterable[tuple[str, UUID]]) -> None:
        """Record `(agent, artifact id)` pairs that were already routed (when resuming from a store)."""
        self._seen.update(dict.fromkeys((agent, artifact_id.int) for agent, artifact_id in pairs))

    def routed_workflows(self) -> set[str]:
        """The workflows of the routed pairs remembered."""
        return {cid for cid in self._seen.values() if cid is not None}

    def forget_workflows(self, settled: Collection[str]) -> None:
        """Drop the routed pairs of settled workflows (nothing of them waits or runs).

        Nothing routes a stored artifact twice in one process (a resume marks what the store consumed, a
        shared board's router reads each stored artifact once), so a settled workflow's pairs guard
        nothing; a pair marked on resume is kept until the artifact is met again, and its workflow known.
        """
        for pair in [pair for pair, cid in self._seen.items() if cid in settled]:  # in place: no second copy
            del self._seen[pair]

    def routed_pairs(self) -> int:
        """How many routed pairs are remembered."""
        return len(self._seen)

    def waiting_workflows(self) -> set[str]:
        """The workflows with artifacts waiting in a gate, join or batch."""
        found = {a.correlation_id for c in self._groups.values() for g in c.open.values() for a in g.artifacts()}
        for collector in self._batches.values():
            found.update(a.correlation_id for batch in collector.batches.values() for g in batch.groups for a in g)
        return found

    def forget(self, ids: Collection[UUID], returned: Iterable[tuple[str, UUID]]) -> list[tuple[str, Artifact]]:
        """Undo routing whose step was never stored: drop the artifacts `ids` from every open group and
        batch, and let each agent of `returned` take that artifact again.

        Returns the `(agent, artifact)` pairs of partial batches broken up this way, to route again.
        """
        for agent, artifact_id in returned:
            self._seen.pop((agent, artifact_id.int), None)
        for collector in self._groups.values():
            collector.forget(ids)
        again: list[tuple[str, Artifact]] = []
        for (agent, _position), batches in self._batches.items():
            for artifact in batches.forget(ids):
                self._seen.pop((agent, artifact.id.int), None)
                again.append((agent, artifact))
        return again

    def update_agent(self, spec: AgentSpec) -> None:
        """Add or replace an agent's declaration and rebuild the type index."""
        self._agents[spec.name] = spec
        self._index = {}
        self._semantic_types = set()
        for agent in self._agents.values():
            for position, subscription in enumerate(agent.subscriptions):
                for type_name in dict.fromkeys(subscription.types):
                    self._index.setdefault(type_name, []).append((agent.name, position))
                if subscription.semantic:
                    self._semantic_types.update(subscription.types)
        for key in [k for k in self._groups if k[0] == spec.name]:
            if key[1] >= len(spec.subscriptions) or self._groups[key].subscription != spec.subscriptions[key[1]]:
                del self._groups[key]
                self._batches.pop(key, None)

    def may_embed(self, artifacts: Sequence[Artifact]) -> bool:
        """Whether a semantic subscription takes the type of one of `artifacts` (it may need an embedding first)."""
        semantic = self._semantic_types
        return bool(semantic) and any(a.type in semantic for a in artifacts)

    def takes(self, type_name: str) -> bool:
        """Whether any subscription takes artifacts of `type_name` (else routing one does nothing)."""
        return type_name in self._index

    def semantic_conditions(self, artifact: Artifact, now: datetime) -> list[Semantic]:
        """The semantic conditions `artifact` must be embedded for: of subscribers that may see and take it.

        Nothing is sent to an embedder for an agent that could not see the artifact or filters it out
        by producer or tags anyway.
        """
        conditions: list[Semantic] = []
        if artifact.type not in self._semantic_types:
            return conditions
        for agent_name, position in self._index.get(artifact.type, ()):
            spec = self._agents[agent_name]
            subscription = spec.subscriptions[position]
            if (
                subscription.semantic
                and (agent_name, artifact.id.int) not in self._seen
                and self._filter_reason(spec, subscription, artifact, now) is None
            ):
                conditions.extend(subscription.semantic)
        return conditions

    def route(self, artifact: Artifact, now: datetime) -> tuple[list[Activation], list[ExpiredJoin]]:
        """The activations that `artifact` completes (highest priority first), and joins it expired."""
        ready: list[Activation] = []
        expired: list[ExpiredJoin] = []
        for agent_name, position in self._index.get(artifact.type, ()):
            pair = (agent_name, artifact.id.int)
            if pair in self._seen:
                self._seen[pair] = artifact.correlation_id  # a pair marked on resume is met
                continue
            spec = self._agents[agent_name]
            subscription = spec.subscriptions[position]
            # the filters in order, then `where=` and semantic conditions (which most subscriptions lack)
            reason = self._filter_reason(spec, subscription, artifact, now)
            if reason is None and (subscription.where or subscription.semantic):
                reason = self._condition_reason(spec, subscription, artifact)
            if reason is not None:
                self._on_reject(Rejection(agent_name, artifact.id, reason))
                continue
            self._seen[pair] = artifact.correlation_id
            if len(subscription.types) == 1 and subscription.join is None and subscription.batch is None:
                ready.append(Activation(agent_name, position, (artifact,), subscription.priority))  # most do
                continue
            group, newly_expired = self._complete(spec, position, subscription, artifact, now)
            expired.extend(newly_expired)
            if group is not None:
                ready.extend(self._batch_or_activate(spec, position, subscription, group, now))
        if len(ready) > 1:
            ready.sort(key=lambda a: -a.priority)
        return ready, expired

    def _condition_reason(self, spec: AgentSpec, subscription: Subscription, artifact: Artifact) -> str | None:
        """Why `spec` does not take `artifact` that passed its filters, or `None`: `where`, then semantic."""
        reason = self._where_reason(spec, subscription, artifact) if subscription.where else None
        if reason is None and subscription.semantic:
            reason = self._semantic_reason(subscription, artifact)
        return reason

    def _semantic_reason(self, subscription: Subscription, artifact: Artifact) -> str | None:
        for condition in subscription.semantic:
            about = f"{condition.query!r}" + ("" if condition.field is None else f" (field {condition.field!r})")
            score = self._semantic.similarity(artifact, condition)
            if not isinstance(score, float):
                return f"semantic match {about} failed: {score}"
            if score < condition.threshold:
                return f"semantic similarity {score:.3f} to {about} is below the threshold {condition.threshold}"
        return None

    def _filter_reason(
        self, spec: AgentSpec, subscription: Subscription, artifact: Artifact, now: datetime
    ) -> str | None:
        if spec.prevent_self_trigger and artifact.produced_by == spec.name:
            return "self-trigger prevented"
        visibility = artifact.visibility
        if type(visibility) is not PublicVisibility and not is_visible(  # public: visible (`is_visible`'s first test)
            visibility, spec.identity, created_at=artifact.created_at, now=now
        ):
            return "not visible to the agent"
        if subscription.from_agents is not None and artifact.produced_by not in subscription.from_agents:
            return f"produced by {artifact.produced_by!r}, not one of from_agents"
        if subscription.tags is not None and not subscription.tags <= artifact.tags:
            return f"missing tags {sorted(subscription.tags - artifact.tags)}"
        return None

    def _where_reason(self, spec: AgentSpec, subscription: Subscription, artifact: Artifact) -> str | None:
        if not subscription.where:
            return None
        try:
            payload = artifact.as_model(self._registry.resolve(artifact.type))
            if not all(predicate(payload) for predicate in subscription.where):
                return "where= predicate returned false"
        except Exception as exc:  # noqa: BLE001 - a user predicate that raises rejects the activation, with the reason
            _log.warning("where= predicate of agent %r raised for artifact %s: %r", spec.name, artifact.id, exc)
            return f"where= predicate raised {type(exc).__name__}: {exc}"
        return None

    def _complete(
        self, spec: AgentSpec, position: int, subscription: Subscription, artifact: Artifact, now: datetime
    ) -> tuple[Group | None, list[ExpiredJoin]]:
        if len(subscription.types) == 1 and subscription.join is None:
            return (artifact,), []
        key: Hashable = artifact.correlation_id
        if subscription.join is not None:
            try:
                key = subscription.join.by(artifact.as_model(self._registry.resolve(artifact.type)))
                hash(key)
            except Exception as exc:  # noqa: BLE001 - a join key function that raises rejects the artifact, with the reason
                self._seen.pop((spec.name, artifact.id.int), None)
                self._on_reject(Rejection(spec.name, artifact.id, f"join key raised {type(exc).__name__}: {exc}"))
                return None, []
        collector = self._groups.setdefault((spec.name, position), GroupCollector(spec.name, position, subscription))
        return collector.add(artifact, key, now)

    def _batch_or_activate(
        self, spec: AgentSpec, position: int, subscription: Subscription, group: Group, now: datetime
    ) -> list[Activation]:
        if subscription.batch is None:
            return [Activation(spec.name, position, group, subscription.priority)]
        collector = self._batches.setdefault((spec.name, position), BatchCollector(subscription.batch))
        batch = collector.add(group, now)
        return [] if batch is None else [self._batch_activation(spec.name, position, batch)]

    def _batch_activation(self, agent: str, position: int, groups: list[Group]) -> Activation:
        subscription = self._agents[agent].subscriptions[position]
        inputs = tuple(a for group in groups for a in group)
        return Activation(agent, position, inputs, subscription.priority, batched=True)

    def expire_due(self, now: datetime) -> tuple[list[Activation], list[ExpiredJoin]]:
        """Expire joins and flush batches whose windows have elapsed at `now`."""
        expired = [e for collector in self._groups.values() for e in collector.expire_due(now)]
        ready = [
            self._batch_activation(agent, position, batch)
            for (agent, position), collector in self._batches.items()
            for batch in collector.flush_due(now)
        ]
        return ready, expired

    def flush_on_idle(self) -> list[Activation]:
        """Flush every partial batch whose spec asks for it (called when the run goes idle)."""
        return [
            self._batch_activation(agent, position, batch)
            for (agent, position), collector in self._batches.items()
            for batch in collector.flush_all()
        ]

    def next_deadline(self) -> datetime | None:
        """The earliest join expiry or batch timeout, if any."""
        deadlines = [c.next_deadline() for c in (*self._groups.values(), *self._batches.values())]
        present = [d for d in deadlines if d is not None]
        return min(present) if present else None

    def waiting(self, correlation_id: str | None = None, admits: Admits = admit_all) -> tuple[int, int, int]:
        """Artifacts waiting in (gates, joins, batches), optionally for one workflow, counting those `admits`."""
        groups = self._groups.values()
        gates = sum(c.waiting(correlation_id, admits) for c in groups if c.subscription.join is None)
        joins = sum(c.waiting(correlation_id, admits) for c in groups if c.subscription.join is not None)
        batches = sum(c.waiting(correlation_id, admits) for c in self._batches.values())
        return gates, joins, batches
