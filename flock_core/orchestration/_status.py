"""Typed records describing the state of a workflow and of a run."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, TypeVar

from pydantic import BaseModel

from ..agents._engine import Usage
from ..blackboard._artifacts import Artifact, WorkflowError
from ..blackboard._registry import TypeRegistry

__all__ = ["CorrelationState", "CorrelationStatus", "RunResult"]

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
