"""Human approval: holding an activation's outputs, and deciding on them from code, HTTP, the CLI or a timeout.

Held outputs are stored with their `ApprovalRequest` in the commit that completes the work item, so they
survive a restart and are never routed. A decision is one commit too, applied only while the request is
pending (so two approvers, or two workers' timeouts, decide it once): approving commits exactly the held
artifacts and routes them; rejecting commits an `ApprovalRejected` record (lineage: the activation's
inputs) and nothing downstream runs. Each decision is a `decide_approval` span and an `ApprovalDecided`
event; each hold an `approval_requested` span event on the activation and an `ApprovalRequested` event.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta

from opentelemetry import trace

from .._clock import Clock
from .._ids import new_id
from .._tracing import Attr, FlockTracer
from ..agents._activation import Output
from ..agents._approval import ApprovalPolicy
from ..agents._flow import read_visibility
from ..agents._spec import AgentSpec
from ..blackboard._approvals import ApprovalOutcome, ApprovalRequest, Decision, may_decide
from ..blackboard._artifacts import ApprovalRejected, Artifact
from ..blackboard._store import BlackboardStore
from ..blackboard._visibility import AgentIdentity
from ..blackboard._work import Commit
from ..exceptions import ApprovalError
from ._artifact_factory import ArtifactFactory
from ._events import ApprovalDecided, ApprovalRequested, EventBus

__all__ = ["ApprovalGate", "Approver"]

Approver = AgentIdentity | str
"""Who decides: an identity, or the name of one without a tenant."""

TIMEOUT = "timeout"
"""The `decided_by` of a request decided by its timeout."""

CANCELLED = "cancel"
"""The `decided_by` of a request rejected because its workflow was cancelled."""

_RELOAD = timedelta(seconds=30)
"""How often a running process reloads the deadlines of requests other processes held."""


def _identity(approver: Approver) -> AgentIdentity:
    return approver if isinstance(approver, AgentIdentity) else AgentIdentity(approver)


class ApprovalGate:
    """Holds outputs that need approval and applies decisions on them.

    Args:
        store: keeps the requests.
        clock: stamps requests and decisions, and times them out.
        artifacts: builds `ApprovalRejected` records.
        tracer: records decisions.
        events: where `ApprovalRequested` / `ApprovalDecided` go.
        step: routes artifacts and stores them with a commit, as one step.
    """

    def __init__(
        self,
        *,
        store: BlackboardStore,
        clock: Clock,
        artifacts: ArtifactFactory,
        tracer: FlockTracer,
        events: EventBus,
        step: Callable[[Commit, Sequence[Artifact]], Awaitable[bool]],
    ) -> None:
        self._store = store
        self._clock = clock
        self._artifacts = artifacts
        self._tracer = tracer
        self._events = events
        self._step = step
        self._deadlines: dict[str, datetime] = {}
        self._reload_at: datetime | None = None

    def hold(
        self,
        spec: AgentSpec,
        work_key: str,
        correlation_id: str,
        outputs: Sequence[Output],
        artifacts: Sequence[Artifact],
    ) -> tuple[list[Artifact], tuple[ApprovalRequest, ...]]:
        """Split an activation's artifacts into those published now and the requests that hold the rest."""
        if spec.approval is None and not spec.group_approval:
            return list(artifacts), ()
        now = self._clock.now()
        published: list[Artifact] = []
        held: dict[int, list[Artifact]] = {}
        for output, artifact in zip(outputs, artifacts, strict=True):
            policy = spec.output_groups[output.group_index].approval or spec.approval
            (published if policy is None else held.setdefault(output.group_index, [])).append(artifact)
        requests: list[ApprovalRequest] = []
        for index, group_artifacts in held.items():
            policy = spec.output_groups[index].approval or spec.approval
            assert policy is not None
            requests.append(
                self._request(
                    agent=spec.name,
                    work_key=work_key,
                    correlation_id=correlation_id,
                    policy=policy,
                    artifacts=group_artifacts,
                    now=now,
                )
            )
        return published, tuple(requests)

    def _request(
        self,
        *,
        agent: str,
        work_key: str,
        correlation_id: str,
        policy: ApprovalPolicy,
        artifacts: Sequence[Artifact],
        now: datetime,
    ) -> ApprovalRequest:
        deadline = None if policy.timeout is None else now + policy.timeout
        return ApprovalRequest(
            id=str(new_id()),
            agent=agent,
            correlation_id=correlation_id,
            work_key=work_key,
            artifacts=tuple(artifacts),
            approvers=policy.approvers,
            requested_at=now,
            deadline=deadline,
            on_timeout=policy.timeout_outcome,
        )

    def held(self, requests: Sequence[ApprovalRequest]) -> None:
        """The requests were stored: record them on the current (activation) span and as events."""
        span = trace.get_current_span()
        for request in requests:
            if request.deadline is not None:
                self._deadlines[request.id] = request.deadline
            if span.is_recording():
                span.add_event(
                    "approval_requested", {Attr.APPROVAL_ID: request.id, "flock.approval.held": len(request.artifacts)}
                )
            if self._events.listening:
                approvers = tuple(sorted(request.approvers))
                self._events.emit(
                    ApprovalRequested(
                        request.id, request.agent, request.correlation_id, approvers, len(request.artifacts)
                    )
                )

    async def pending(self, approver: Approver | None, correlation_id: str | None) -> list[ApprovalRequest]:
        """Pending requests, oldest first; with `approver`, only those it may decide (and see)."""
        requests = await self._store.approvals("pending", correlation_id=correlation_id)
        if approver is None:
            return requests
        identity, now = _identity(approver), self._clock.now()
        return [r for r in requests if may_decide(identity, r, now)]

    async def decide(
        self, approval_id: str, outcome: ApprovalOutcome, approver: Approver, reason: str | None
    ) -> tuple[Artifact, ...]:
        """Approve (publish the held outputs) or reject (publish an `ApprovalRejected`); returns what was published.

        `ApprovalError` when there is no pending request with this id that `approver` may decide.
        """
        identity = _identity(approver)
        request = await self._store.approval(approval_id) if isinstance(approval_id, str) else None  # pyright: ignore[reportUnnecessaryIsInstance]
        if request is None or request.status != "pending" or not may_decide(identity, request, self._clock.now()):
            raise ApprovalError(str(approval_id), str(identity))
        published = await self._apply(request, outcome, str(identity), reason)
        if published is None:
            raise ApprovalError(approval_id, str(identity))  # decided meanwhile, by another approver or worker
        return published

    async def _apply(
        self, request: ApprovalRequest, outcome: ApprovalOutcome, by: str, reason: str | None
    ) -> tuple[Artifact, ...] | None:
        attributes = {Attr.APPROVAL_ID: request.id, Attr.APPROVER: by, Attr.APPROVAL_OUTCOME: outcome}
        if reason is not None:
            attributes[Attr.APPROVAL_REASON] = reason
        with self._tracer.control("decide_approval", request.correlation_id, attributes) as span:
            artifacts = request.artifacts if outcome == "approved" else (self._rejection(request, by, reason),)
            decision = Decision(request.id, outcome, by, self._clock.now(), reason)
            if not await self._step(Commit(artifacts=artifacts, decide=decision), artifacts):
                return None
            if span.is_recording():
                span.add_event("approval_decided", attributes)
        self._deadlines.pop(request.id, None)
        if self._events.listening:
            self._events.emit(ApprovalDecided(request.id, request.agent, request.correlation_id, outcome, by, reason))
        return artifacts

    def _rejection(self, request: ApprovalRequest, by: str, reason: str | None) -> Artifact:
        held = request.artifacts
        record = ApprovalRejected(
            agent=request.agent,
            approval_id=request.id,
            rejected_by=by,
            reason=reason,
            held_types=sorted({a.type for a in held}),
            input_ids=list(request.input_ids),
        )
        artifact = self._artifacts.from_object(
            record,
            visibility=read_visibility(held),  # it says what was held: visible to whoever could see that
            correlation_id=request.correlation_id,
            partition_key=held[0].partition_key if held else None,
            produced_by=request.agent,
        )
        # its lineage is the activation's inputs (every held output has the same), never the held outputs
        return artifact.model_copy(update={"consumed_from": held[0].consumed_from if held else ()})

    async def load(self) -> None:
        """Learn the deadlines of the stored pending requests (after a restart, and from other processes)."""
        self._reload_at = self._clock.now() + _RELOAD
        for request in await self._store.approvals("pending"):
            if request.deadline is not None:
                self._deadlines[request.id] = request.deadline

    async def withdraw(self, correlation_id: str, reason: str) -> None:
        """Reject the workflow's pending requests: it was cancelled, so nothing it held is published."""
        for request in await self._store.approvals("pending", correlation_id=correlation_id):
            await self._apply(request, "rejected", CANCELLED, f"the workflow was cancelled: {reason}")

    def next_deadline(self) -> datetime | None:
        """The earliest deadline of a pending request known here."""
        return min(self._deadlines.values(), default=None)

    async def expire(self, now: datetime) -> None:
        """Decide every request whose deadline passed with its declared outcome (once, on any worker)."""
        if self._reload_at is not None and now >= self._reload_at:
            await self.load()
        if not self._deadlines or min(self._deadlines.values()) > now:
            return
        for approval_id in [i for i, d in self._deadlines.items() if d <= now]:
            self._deadlines.pop(approval_id, None)
            request = await self._store.approval(approval_id)
            if request is not None and request.status == "pending":
                await self._apply(request, request.on_timeout, TIMEOUT, "the approval timed out")
