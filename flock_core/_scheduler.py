"""Routing: which agents an artifact activates, and when a gate has collected a complete activation."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from ._artifacts import Artifact
from ._registry import TypeRegistry
from ._spec import AgentSpec, Subscription
from ._visibility import is_visible

__all__ = ["Activation", "Rejection", "Scheduler"]

_log = logging.getLogger("flock_core.scheduler")


@dataclass(frozen=True, slots=True)
class Activation:
    """A complete set of inputs for one agent: becomes one work item."""

    agent: str
    subscription: int
    inputs: tuple[Artifact, ...]
    priority: int = 0

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


@dataclass(slots=True)
class _Gate:
    """Artifacts waiting for the rest of an AND/count gate, per type, oldest first."""

    waiting: dict[str, list[Artifact]] = field(default_factory=dict[str, list[Artifact]])


def _ignore(_rejection: Rejection) -> None:
    return None


class Scheduler:
    """Finds subscribers by type (an index, not a scan), filters them, and collects gates per correlation id.

    Gates are scoped to the correlation id: artifacts of unrelated workflows never complete each other's gate.
    """

    def __init__(self, registry: TypeRegistry, on_reject: Callable[[Rejection], None] | None = None) -> None:
        self._registry = registry
        self._agents: dict[str, AgentSpec] = {}
        self._index: dict[str, list[tuple[str, int]]] = {}
        self._gates: dict[tuple[str, int, str], _Gate] = {}
        self._seen: set[tuple[str, UUID]] = set()
        self._on_reject: Callable[[Rejection], None] = on_reject or _ignore

    def update_agent(self, spec: AgentSpec) -> None:
        """Add or replace an agent's declaration and rebuild the type index."""
        self._agents[spec.name] = spec
        self._index = {}
        for agent in self._agents.values():
            for position, subscription in enumerate(agent.subscriptions):
                for type_name in dict.fromkeys(subscription.types):
                    self._index.setdefault(type_name, []).append((agent.name, position))

    def pending_gate_inputs(self, correlation_id: str | None = None) -> int:
        """How many artifacts wait in incomplete gates (optionally for one workflow)."""
        return sum(
            len(items)
            for (_, _, cid), gate in self._gates.items()
            if correlation_id is None or cid == correlation_id
            for items in gate.waiting.values()
        )

    def route(self, artifact: Artifact, now: datetime) -> list[Activation]:
        """The activations that `artifact` completes, in subscription priority order."""
        ready: list[Activation] = []
        for agent_name, position in self._index.get(artifact.type, ()):
            if (agent_name, artifact.id) in self._seen:
                continue
            spec = self._agents[agent_name]
            subscription = spec.subscriptions[position]
            reason = self._reject_reason(spec, subscription, artifact, now)
            if reason is not None:
                self._on_reject(Rejection(agent_name, artifact.id, reason))
                continue
            self._seen.add((agent_name, artifact.id))
            activation = self._collect(spec, position, subscription, artifact)
            if activation is not None:
                ready.append(activation)
        return sorted(ready, key=lambda a: -a.priority)

    def _reject_reason(
        self, spec: AgentSpec, subscription: Subscription, artifact: Artifact, now: datetime
    ) -> str | None:
        if spec.prevent_self_trigger and artifact.produced_by == spec.name:
            return "self-trigger prevented"
        if not is_visible(artifact.visibility, spec.identity, created_at=artifact.created_at, now=now):
            return "not visible to the agent"
        if subscription.from_agents is not None and artifact.produced_by not in subscription.from_agents:
            return f"produced by {artifact.produced_by!r}, not one of from_agents"
        if subscription.tags is not None and not subscription.tags <= artifact.tags:
            return f"missing tags {sorted(subscription.tags - artifact.tags)}"
        return self._predicate_reason(subscription, artifact)

    def _predicate_reason(self, subscription: Subscription, artifact: Artifact) -> str | None:
        if not subscription.where:
            return None
        try:
            payload = artifact.as_model(self._registry.resolve(artifact.type))
            for predicate in subscription.where:
                if not predicate(payload):
                    return "where= predicate returned false"
        except Exception as exc:  # noqa: BLE001 - a user predicate that raises rejects the activation, with the reason
            _log.warning("where= predicate raised for artifact %s: %r", artifact.id, exc)
            return f"where= predicate raised {type(exc).__name__}: {exc}"
        return None

    def _collect(
        self, spec: AgentSpec, position: int, subscription: Subscription, artifact: Artifact
    ) -> Activation | None:
        if not subscription.is_gate:
            return Activation(spec.name, position, (artifact,), subscription.priority)
        key = (spec.name, position, artifact.correlation_id)
        gate = self._gates.setdefault(key, _Gate())
        gate.waiting.setdefault(artifact.type, []).append(artifact)
        required = subscription.required
        if any(len(gate.waiting.get(t, ())) < n for t, n in required.items()):
            return None
        inputs: list[Artifact] = []
        for type_name, count in required.items():
            taken, gate.waiting[type_name] = gate.waiting[type_name][:count], gate.waiting[type_name][count:]
            inputs.extend(taken)
        if not any(gate.waiting.values()):
            del self._gates[key]
        return Activation(spec.name, position, tuple(sorted(inputs, key=lambda a: a.id)), subscription.priority)

    def forget(self, pairs: Iterable[tuple[str, UUID]]) -> None:
        """Allow these (agent, artifact) pairs to trigger again (used when an activation is re-queued)."""
        self._seen.difference_update(pairs)
