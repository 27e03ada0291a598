"""JSON views of the framework's records: artifacts, agent declarations, workflow status, run events."""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta
from typing import Any

from ..agents._patterns import BatchSpec
from ..agents._spec import AgentSpec, OutputGroup, Subscription
from ..blackboard._approvals import ApprovalRequest
from ..blackboard._artifacts import Artifact
from ..orchestration._events import ActivationFinished, ArtifactPublished, FlockEvent
from ..orchestration._status import CorrelationStatus

__all__ = ["agent_view", "approval_view", "artifact_json", "artifact_view", "event_view", "status_view"]


def artifact_view(artifact: Artifact) -> dict[str, Any]:
    """An artifact as JSON (tags sorted, so the output is stable)."""
    data = artifact.model_dump(mode="json")
    data["tags"] = sorted(artifact.tags)
    return data


def artifact_json(artifact: Artifact) -> bytes:
    """`artifact_view` as a response body, serialised by Pydantic in one pass when there is no tag order to fix."""
    if len(artifact.tags) > 1:  # a set has no stable order
        return json.dumps(artifact_view(artifact), ensure_ascii=False, separators=(",", ":")).encode()
    return artifact.model_dump_json().encode()


def _subscription_view(subscription: Subscription) -> dict[str, Any]:
    return {
        "types": list(subscription.types),
        "from_agents": None if subscription.from_agents is None else sorted(subscription.from_agents),
        "tags": None if subscription.tags is None else sorted(subscription.tags),
        "priority": subscription.priority,
        "filters": len(subscription.where),
        "join": None if subscription.join is None else {"within": _span(subscription.join.within)},
        "batch": None if subscription.batch is None else _batch_view(subscription.batch),
    }


def _span(value: timedelta | int | None) -> float | int | None:
    """A window as seconds (a timedelta) or a count (an int)."""
    return value.total_seconds() if isinstance(value, timedelta) else value


def _batch_view(batch: BatchSpec) -> dict[str, Any]:
    return {"size": batch.size, "timeout": _span(batch.timeout), "scope": batch.scope}


def _group_view(group: OutputGroup) -> dict[str, Any]:
    visibility = group.visibility
    if visibility is None:
        shown: Any = None
    elif callable(visibility):
        shown = {"kind": "computed"}
    else:
        shown = visibility.model_dump(mode="json")
    return {
        "types": list(group.types),
        "fan_out": {"low": group.fan_out.low, "high": group.fan_out.maximum, "text": group.fan_out.describe()},
        "description": group.description,
        "visibility": shown,
    }


def agent_view(spec: AgentSpec) -> dict[str, Any]:
    """An agent declaration: what it consumes and publishes, and the identity it acts under."""
    return {
        "name": spec.name,
        "description": spec.description,
        "subscriptions": [_subscription_view(s) for s in spec.subscriptions],
        "output_groups": [_group_view(g) for g in spec.output_groups],
        "labels": sorted(spec.labels),
        "tenant": spec.tenant,
        "tools": sorted(str(getattr(tool, "__name__", repr(tool))) for tool in spec.tools),
        "max_concurrency": spec.max_concurrency,
        "scheduled": spec.schedule is not None,
    }


def approval_view(request: ApprovalRequest) -> dict[str, Any]:
    """A pending approval request with the outputs it holds (shown only to those who may decide it)."""
    return {
        "id": request.id,
        "agent": request.agent,
        "correlation_id": request.correlation_id,
        "approvers": sorted(request.approvers),
        "requested_at": request.requested_at.isoformat(),
        "deadline": None if request.deadline is None else request.deadline.isoformat(),
        "on_timeout": request.on_timeout,
        "artifacts": [artifact_view(a) for a in request.artifacts],
    }


def status_view(status: CorrelationStatus) -> dict[str, Any]:
    """A workflow's status as JSON.

    The workflow's budget is shown with its limits; the Flock's budget is not: its spending sums every
    workflow's, which a caller may not see.
    """
    data = dataclasses.asdict(status)
    data.pop("flock_budget", None)
    if status.budget is not None:
        data["budget"]["limit"] = status.budget.limit.limits()
    return data


def event_view(event: FlockEvent, output_ids: tuple[str, ...] | None = None) -> dict[str, Any]:
    """A run event as JSON; `output_ids` replaces a finished activation's outputs (the visible ones)."""
    if isinstance(event, ArtifactPublished):
        return {"kind": event.kind, "at": event.at.isoformat(), "artifact": artifact_view(event.artifact)}
    data = dataclasses.asdict(event)
    data["at"] = event.at.isoformat()
    data.pop("read", None)  # who may see a failure's message or tokens: the stream's filter applied it
    if isinstance(event, ActivationFinished) and output_ids is not None:
        data["output_ids"] = list(output_ids)
    for key, value in data.items():
        if isinstance(value, tuple):
            data[key] = list(value)  # pyright: ignore[reportUnknownArgumentType]
    return data
