"""Artifacts: the immutable, typed, versioned records on the blackboard."""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from .._clock import utcnow
from .._ids import new_id
from ._visibility import PublicVisibility, Visibility, public

__all__ = [
    "API_PRODUCER_PREFIX",
    "EXTERNAL_PRODUCER",
    "ApprovalRejected",
    "Artifact",
    "WorkflowError",
    "build_artifact",
    "framework_types",
    "is_external",
]

EXTERNAL_PRODUCER = "external"
"""The producer of an artifact published by code (`Flock.publish`) rather than by an agent."""

API_PRODUCER_PREFIX = "api:"
"""The prefix of the producer of an artifact published over HTTP: `api:` and the caller (`api:alice@acme`)."""

M = TypeVar("M", bound=BaseModel)


class Artifact(BaseModel):
    """One immutable record on the blackboard.

    Attributes:
        id: time-ordered unique id (UUIDv7).
        type: the registered type name of the payload.
        payload: the payload, as validated JSON-compatible data.
        produced_by: the agent that produced it, `"external"` for a direct publish, or `"api:"` and the
            caller's identity for a publish over HTTP.
        correlation_id: the workflow this artifact belongs to.
        partition_key: an optional key for users who shard work.
        tags: free-form labels used by subscriptions and queries.
        visibility: who may see it.
        created_at: when it was created (UTC).
        version: the payload schema version (starts at 1).
        consumed_from: lineage: the ids of the artifacts it was produced from.
        trace_context: W3C trace context of the activation that produced it, so traces cross processes.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    id: UUID = Field(default_factory=new_id)
    type: str
    payload: dict[str, Any]
    produced_by: str = "external"
    correlation_id: str
    partition_key: str | None = None
    tags: frozenset[str] = frozenset()
    visibility: Visibility = Field(default_factory=PublicVisibility)
    created_at: datetime = Field(default_factory=utcnow)
    version: int = 1
    consumed_from: tuple[UUID, ...] = ()
    trace_context: dict[str, str] = Field(default_factory=dict[str, str])

    def as_model(self, model: type[M]) -> M:
        """The payload validated as `model`."""
        return model.model_validate(self.payload)


# The setters of the instance dict and of Pydantic's three slots, taken from `BaseModel` once: cheaper than
# `object.__setattr__` by name, which looks each one up along the class's MRO.
_set_dict = BaseModel.__dict__["__dict__"].__set__
_set_fields_set = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_set_extra = BaseModel.__dict__["__pydantic_extra__"].__set__
_set_private = BaseModel.__dict__["__pydantic_private__"].__set__
_NO_TAGS: frozenset[str] = frozenset()
_SET_FIELDS = {
    "type",
    "payload",
    "produced_by",
    "correlation_id",
    "partition_key",
    "tags",
    "visibility",
    "created_at",
    "consumed_from",
    "trace_context",
}
"""The fields the framework sets on the artifacts it builds, shared by all of them (copies make their own)."""


def build_artifact(
    *,
    type_name: str,
    payload: dict[str, Any],
    produced_by: str,
    correlation_id: str,
    partition_key: str | None,
    tags: frozenset[str],
    visibility: Visibility | None,
    created_at: datetime,
    consumed_from: tuple[UUID, ...],
    trace_context: dict[str, str],
    artifact_id: UUID | None = None,
) -> Artifact:
    """A new artifact from values the framework has checked already (a payload validated and dumped as JSON).

    The id is `artifact_id`, else a new one. It skips re-validating the values, and shares what artifacts
    have in common (public visibility, no tags, the set of explicitly set fields) instead of copying it into
    each: the board holds many artifacts.

    >>> from datetime import UTC
    >>> a = build_artifact(type_name="Note", payload={"n": 1}, produced_by="external", correlation_id="c1",
    ...     partition_key=None, tags=frozenset(), visibility=None, created_at=datetime(2026, 1, 1, tzinfo=UTC),
    ...     consumed_from=(), trace_context={})
    >>> a == Artifact.model_validate_json(a.model_dump_json())
    True
    """
    artifact = Artifact.__new__(Artifact)  # what `Artifact.model_construct` does, without its per-field loop
    _set_dict(
        artifact,
        {
            "id": artifact_id or new_id(),
            "type": type_name,
            "payload": payload,
            "produced_by": produced_by,
            "correlation_id": correlation_id,
            "partition_key": partition_key,
            "tags": tags or _NO_TAGS,
            "visibility": public() if visibility is None or type(visibility) is PublicVisibility else visibility,
            "created_at": created_at,
            "version": 1,
            "consumed_from": consumed_from,
            "trace_context": trace_context,
        },
    )
    _set_fields_set(artifact, _SET_FIELDS)
    _set_extra(artifact, None)
    _set_private(artifact, None)
    return artifact


class WorkflowError(BaseModel):
    """Published on the blackboard when an activation fails, so a failure is itself recorded.

    It carries the failing activation's correlation id and lineage (its inputs stay on the board).
    """

    model_config = ConfigDict(defer_build=True)

    agent: str
    error_type: str
    message: str
    output_group: int | None = None
    input_ids: list[str] = Field(default_factory=list[str])
    trace_id: str | None = None


class ApprovalRejected(BaseModel):
    """Published instead of held outputs when their approval is rejected (or times out as rejected).

    Its lineage is the activation's inputs; the held outputs are never published, so nothing downstream runs.
    """

    model_config = ConfigDict(defer_build=True)

    agent: str
    approval_id: str
    rejected_by: str
    reason: str | None = None
    held_types: list[str] = Field(default_factory=list[str])
    input_ids: list[str] = Field(default_factory=list[str])


def framework_types() -> tuple[type[BaseModel], ...]:
    """The types only the framework publishes: clients of the HTTP API may not publish or run them."""
    return (WorkflowError, ApprovalRejected)


def is_external(artifact: Artifact) -> bool:
    """Whether `artifact` came from outside the agents (code or an API caller) rather than an activation."""
    return not artifact.consumed_from and (
        artifact.produced_by == EXTERNAL_PRODUCER or artifact.produced_by.startswith(API_PRODUCER_PREFIX)
    )
