"""Typed records describing the state of a workflow and of a run."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, TypeVar

from pydantic import BaseModel

from .._budget import BudgetStatus
from ..agents._engine import Usage
from ..blackboard._artifacts import Artifact, WorkflowError
from ..blackboard._registry import TypeRegistry
from ..blackboard._visibility import AgentIdentity, is_visible, visible_from

__all__ = ["CorrelationState", "CorrelationStatus", "RunResult", "StatusReader"]

M = TypeVar("M", bound=BaseModel)

CorrelationState = Literal["active", "completed", "failed", "cancelled", "paused", "awaiting_approval"]


@dataclass(frozen=True, slots=True)
class CorrelationStatus:
    """Where one workflow (one correlation id) stands.

    `state` is `active` while activations are queued or running, or stored and unfinished (pending, or
    leased by any process, alive or not), or inputs wait for a delayed artifact, a join or a batch;
    `failed` once settled with at least one `WorkflowError`; `cancelled` once `Flock.cancel` stopped it
    (whatever else holds); `paused` while paused with work left (then `pending_activations` counts its
    pending and running work items on every worker); `awaiting_approval` when nothing else is left but
    outputs held for approval (`pending_approvals` counts their requests); else `completed`.
    Inputs waiting in an AND/count gate do not keep a workflow active (a gate may legitimately never fill).
    `usage` is what this process's activations of the workflow spent (cost included); `budget` is the
    workflow's budget with its spending (durable on stores that keep budgets) and what is left of it, and
    `flock_budget` the Flock's (each `None` without one). A workflow a budget stopped is `cancelled`, its
    `cancel_reason` naming the limit.
    """

    correlation_id: str
    state: CorrelationState
    artifact_count: int
    error_count: int
    pending_activations: int
    waiting_gate_inputs: int
    waiting_join_inputs: int
    waiting_batch_inputs: int
    delayed_artifacts: int
    usage: Usage = field(default_factory=Usage)
    cancel_reason: str | None = None
    pending_approvals: int = 0
    budget: BudgetStatus | None = None
    flock_budget: BudgetStatus | None = None


@dataclass(frozen=True, slots=True)
class StatusReader:
    """Who reads a workflow's status, and so which artifacts and work its counts include.

    Trusted code (`identity` is `None`) sees everything. An identity's status is computed from what it may
    see: artifacts visible to it now, delayed artifacts it will see, work whose inputs it may all see,
    waiting inputs it may see, and approvals whose held outputs it would see. Usage and a cancel reason are
    shown only to a reader who sees the whole workflow. So the state is the one its visible part implies:
    work on artifacts it may not see neither keeps the workflow active nor fails it for that reader.
    """

    identity: AgentIdentity | None
    now: datetime

    def sees(self, artifact: Artifact) -> bool:
        """Whether `artifact` counts now."""
        if self.identity is None:
            return True
        return is_visible(artifact.visibility, self.identity, created_at=artifact.created_at, now=self.now)

    def will_see(self, artifact: Artifact) -> bool:
        """Whether `artifact` counts once any delay on it has passed."""
        if self.identity is None:
            return True
        later = max(self.now, visible_from(artifact.visibility, artifact.created_at))
        return is_visible(artifact.visibility, self.identity, created_at=artifact.created_at, now=later)

    def sees_all(self, artifacts: Iterable[Artifact | None]) -> bool:
        """Whether every one of `artifacts` counts now (a missing one, `None`, does not)."""
        return all(a is not None and self.sees(a) for a in artifacts)


@dataclass(frozen=True, slots=True)
class RunResult:
    """What `Flock.run` / `Flock.arun` produced: every artifact of the run's workflows, oldest first."""

    artifacts: tuple[Artifact, ...]
    registry: TypeRegistry

    def get(self, model: type[M]) -> list[M]:
        """Payloads of one type, as `model` instances."""
        name = self.registry.name_of(model)
        return [a.as_model(model) for a in self.artifacts if a.type == name]

    @property
    def errors(self) -> list[WorkflowError]:
        """The `WorkflowError` artifacts of the run."""
        return self.get(WorkflowError)
