"""Outputs held for a human: an approval request, the decision on it, and who may make it.

An activation whose agent (or output group) requires approval does not publish those outputs: they are
stored with an `ApprovalRequest`, in the commit that completes the work item, and nobody but the store
holds them. A `Decision` ends the request once (the store applies it only while the request is
pending): approving publishes exactly the held artifacts, rejecting publishes an `ApprovalRejected`
record instead.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, cast

from ._artifacts import Artifact
from ._visibility import AgentIdentity, is_visible

__all__ = [
    "ApprovalOutcome",
    "ApprovalRequest",
    "ApprovalStatus",
    "Decision",
    "decided",
    "may_decide",
    "may_see",
    "request_document",
    "request_from_document",
]

ApprovalStatus = Literal["pending", "approved", "rejected"]
ApprovalOutcome = Literal["approved", "rejected"]


@dataclass(frozen=True, slots=True)
class ApprovalRequest:
    """Outputs of one activation's output group, held until an approver decides.

    Attributes:
        id: the request's id (a UUID string).
        agent: the agent whose outputs are held.
        correlation_id: their workflow.
        work_key: the work item that produced them (completed when they were held).
        artifacts: the held outputs, exactly as they will be published on approval.
        approvers: who may decide: identities written as `str(AgentIdentity)` (`"alice"`, `"alice@acme"`).
        requested_at: when the outputs were held.
        deadline: when the request times out (`None`: never).
        on_timeout: the outcome a timeout applies.
        status: pending until decided.
        decided_by: the approver (or `"timeout"`) once decided.
        decided_at: when it was decided.
        reason: the reason given with the decision.
    """

    id: str
    agent: str
    correlation_id: str
    work_key: str
    artifacts: tuple[Artifact, ...]
    approvers: frozenset[str]
    requested_at: datetime
    deadline: datetime | None = None
    on_timeout: ApprovalOutcome = "rejected"
    status: ApprovalStatus = "pending"
    decided_by: str | None = None
    decided_at: datetime | None = None
    reason: str | None = None

    @property
    def input_ids(self) -> tuple[str, ...]:
        """The activation's inputs (the held outputs' lineage)."""
        return tuple(str(i) for i in self.artifacts[0].consumed_from) if self.artifacts else ()


@dataclass(frozen=True, slots=True)
class Decision:
    """The end of a pending `ApprovalRequest`: approved or rejected, by whom, when and why."""

    approval_id: str
    outcome: ApprovalOutcome
    by: str
    at: datetime
    reason: str | None = None


def may_see(identity: AgentIdentity, artifacts: Iterable[Artifact], now: datetime) -> bool:
    """Whether `identity` may see every one of `artifacts` now (fails closed)."""
    return all(is_visible(a.visibility, identity, created_at=a.created_at, now=now) for a in artifacts)


def may_decide(identity: AgentIdentity, request: ApprovalRequest, now: datetime) -> bool:
    """Whether `identity` is one of the request's approvers and may see everything it holds.

    >>> from datetime import UTC, datetime
    >>> request = ApprovalRequest("a1", "writer", "c", "k", (), frozenset({"alice@acme"}), datetime.now(UTC))
    >>> now = datetime.now(UTC)
    >>> alice, outsider = AgentIdentity("alice", tenant="acme"), AgentIdentity("alice")
    >>> may_decide(alice, request, now), may_decide(outsider, request, now)
    (True, False)
    """
    return str(identity) in request.approvers and may_see(identity, request.artifacts, now)


def request_document(request: ApprovalRequest) -> str:
    """A pending request as the JSON document a durable store keeps (decisions are stored beside it)."""
    return json.dumps(
        {
            "id": request.id,
            "agent": request.agent,
            "correlation_id": request.correlation_id,
            "work_key": request.work_key,
            "artifacts": [a.model_dump(mode="json") for a in request.artifacts],
            "approvers": sorted(request.approvers),
            "requested_at": request.requested_at.isoformat(),
            "deadline": None if request.deadline is None else request.deadline.isoformat(),
            "on_timeout": request.on_timeout,
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )


def request_from_document(document: str | dict[str, Any]) -> ApprovalRequest:
    """The pending request `request_document` wrote."""
    data = cast(dict[str, Any], json.loads(document) if isinstance(document, str) else document)
    deadline = cast(str | None, data["deadline"])
    return ApprovalRequest(
        id=data["id"],
        agent=data["agent"],
        correlation_id=data["correlation_id"],
        work_key=data["work_key"],
        artifacts=tuple(Artifact.model_validate(a) for a in data["artifacts"]),
        approvers=frozenset(cast(list[str], data["approvers"])),
        requested_at=datetime.fromisoformat(data["requested_at"]),
        deadline=None if deadline is None else datetime.fromisoformat(deadline),
        on_timeout=data["on_timeout"],
    )


def decided(
    request: ApprovalRequest, status: str, by: str | None, at: datetime | None, reason: str | None
) -> ApprovalRequest:
    """`request` with its stored decision columns applied."""
    return dataclasses.replace(
        request, status=cast(ApprovalStatus, status), decided_by=by, decided_at=at, reason=reason
    )
