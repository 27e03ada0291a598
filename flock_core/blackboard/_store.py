"""The store protocols, split by concern, and the query record every backend understands."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, TypeVar, runtime_checkable
from uuid import UUID

from pydantic import BaseModel

from .._budget import Budget
from .._records import plain_init
from .._usage import Usage
from ._approvals import ApprovalRequest, ApprovalStatus
from ._artifacts import Artifact
from ._visibility import AgentIdentity, PublicVisibility, is_visible
from ._work import Commit, ExpiredJoin, TimerState, WorkRecord, WorkStatus

__all__ = [
    "CONSUMERS_OF_DEPRECATED",
    "RECORD_CONSUMPTION_DEPRECATED",
    "ApprovalLog",
    "ArtifactLog",
    "ArtifactPage",
    "ArtifactQuery",
    "BlackboardStore",
    "ExclusiveBoard",
    "RunState",
    "StoredBudget",
    "WorkQueue",
    "WorkflowBudgets",
    "WorkflowControls",
    "matches",
]

M = TypeVar("M", bound=BaseModel)

RECORD_CONSUMPTION_DEPRECATED = "record_consumption() is deprecated: commit Commit(consumed=...) instead"
CONSUMERS_OF_DEPRECATED = "consumers_of() is deprecated: read consumed_pairs() instead"


@plain_init
@dataclass(frozen=True, slots=True)
class ArtifactQuery:
    """Filters for `BlackboardStore.query`; every filter given must match (AND).

    Attributes:
        types: type names to include (any of them).
        produced_by: producers to include (any of them).
        correlation_id: only this workflow.
        tags: artifacts must carry all of these tags.
        since: created at or after this time.
        until: created before this time.
        visible_to: only artifacts this identity may see at `now`.
        now: the time at which visibility is judged (default: the store's current time).
        offset: how many matching artifacts to skip (oldest first).
        limit: the page size (`None`: everything).
    """

    types: frozenset[str] | None = None
    produced_by: frozenset[str] | None = None
    correlation_id: str | None = None
    tags: frozenset[str] | None = None
    since: datetime | None = None
    until: datetime | None = None
    visible_to: AgentIdentity | None = None
    now: datetime | None = None
    offset: int = 0
    limit: int | None = None


@plain_init
@dataclass(frozen=True, slots=True)
class ArtifactPage:
    """One page of query results, oldest first, with the total number of matches."""

    items: tuple[Artifact, ...]
    total: int
    offset: int

    @property
    def next_offset(self) -> int | None:
        """The offset of the next page, or `None` when this is the last one."""
        end = self.offset + len(self.items)
        return end if end < self.total else None


def matches(artifact: Artifact, query: ArtifactQuery, now: datetime) -> bool:  # noqa: PLR0911 - one filter per line
    """Whether `artifact` passes every filter of `query` (the reference semantics of all backends)."""
    if query.types is not None and artifact.type not in query.types:
        return False
    if query.produced_by is not None and artifact.produced_by not in query.produced_by:
        return False
    if query.correlation_id is not None and artifact.correlation_id != query.correlation_id:
        return False
    if query.tags is not None and not query.tags <= artifact.tags:
        return False
    if query.since is not None and artifact.created_at < query.since:
        return False
    if query.until is not None and artifact.created_at >= query.until:
        return False
    if query.visible_to is not None and type(visibility := artifact.visibility) is not PublicVisibility:
        when = query.now or now  # a public artifact is visible to all, always: `is_visible` is not called for it
        return is_visible(visibility, query.visible_to, created_at=artifact.created_at, now=when)
    return True


class ArtifactLog(Protocol):
    """The board itself: immutable artifacts in sequence order, and the queries that read them.

    What readers need (context providers, conditions, the lineage graph, the HTTP API): nothing here
    touches the state of a run.
    """

    async def append(self, artifact: Artifact) -> int:
        """Store one artifact outside any run step; returns its sequence number (strictly increasing)."""
        ...

    async def get(self, artifact_id: UUID) -> Artifact | None:
        """The artifact with this id, or `None`."""
        ...

    async def get_many(self, artifact_ids: Sequence[UUID]) -> list[Artifact]:
        """The artifacts with these ids, in the order given (missing ones are skipped)."""
        ...

    async def query(self, query: ArtifactQuery) -> ArtifactPage:
        """Artifacts matching `query`, oldest first, one page at a time."""
        ...

    async def get_by_type(
        self, model: type[M], *, correlation_id: str | None = None, type_name: str | None = None
    ) -> list[M]:
        """Payloads of every artifact of `model`'s type (or `type_name`), validated as `model`."""
        ...

    async def list(self) -> list[Artifact]:
        """Every artifact on the board, oldest first, unfiltered (as Flock's `store.list()`; use `query` to page)."""
        ...


class WorkQueue(Protocol):
    """Durable work: the atomic commits that move a run forward, and the work items they enqueue.

    A work item is leased before it runs; whether a lease may be taken is one rule for every backend
    (`flock_core.blackboard._leases`).
    """

    async def commit(self, commit: Commit) -> bool:
        """Apply `commit` atomically; returns False (writing nothing) if its work item was already finished."""
        ...

    async def lease(self, key: str, owner: str, until: datetime) -> WorkRecord | None:
        """Lease a pending (or abandoned) work item; returns it with `attempts` incremented, else `None`."""
        ...

    async def release(self, keys: Sequence[str]) -> None:
        """Return these leased work items to pending (their owner is known to be gone)."""
        ...

    async def work(
        self, statuses: Collection[WorkStatus] | None = None, *, correlation_id: str | None = None
    ) -> list[WorkRecord]:
        """Work items, oldest first, optionally only those in `statuses` (and of one workflow)."""
        ...

    async def requeue(self, key: str) -> bool:
        """Put a failed work item back to pending (attempts reset); returns whether it existed and had failed."""
        ...


class RunState(Protocol):
    """What a restarted run rebuilds its routing from, beside the artifacts and the work items."""

    async def consumed_pairs(self) -> set[tuple[str, UUID]]:
        """Every `(agent, artifact id)` consumption record (written by `WorkQueue.commit`)."""
        ...

    async def timer_states(self) -> list[TimerState]:
        """The last tick of every timer agent."""
        ...

    async def expired_joins(self) -> list[ExpiredJoin]:
        """Every expired join record, oldest first."""
        ...

    async def fingerprints(self) -> dict[str, str]:
        """The agent declarations' fingerprints saved by the last run on this store."""
        ...

    async def save_fingerprints(self, fingerprints: Mapping[str, str]) -> None:
        """Replace the saved agent fingerprints."""
        ...


class WorkflowControls(Protocol):
    """Durable controls over whole workflows: cancelled and paused ones (their work items follow)."""

    async def cancel_workflow(self, correlation_id: str, reason: str) -> list[WorkRecord]:
        """Mark the workflow cancelled and its pending and leased work items `cancelled`, atomically.

        Returns the items it cancelled (as they were). Work enqueued into a cancelled workflow later is
        stored as `cancelled` and never runs; completing a cancelled item writes nothing (returns False).
        """
        ...

    async def cancelled_workflows(self) -> dict[str, str]:
        """Every cancelled workflow with the reason given."""
        ...

    async def pause_workflow(self, correlation_id: str | None, paused: bool) -> None:
        """Pause (or resume) one workflow, or every workflow on the board (`None`).

        While paused, its pending work items are neither leased nor claimed nor counted as pending in
        `board_state` (work already leased finishes). Resuming every workflow keeps single pauses.
        """
        ...

    async def paused_workflows(self) -> frozenset[str | None]:
        """The paused workflows; `None` among them when the whole board is paused."""
        ...


class ApprovalLog(Protocol):
    """Outputs held for approval (written by `WorkQueue.commit`'s `hold`, ended by its `decide`)."""

    async def approvals(
        self, status: ApprovalStatus | None = "pending", *, correlation_id: str | None = None
    ) -> list[ApprovalRequest]:
        """Approval requests, oldest first: only those in `status` (`None`: all), of one workflow if given."""
        ...

    async def approval(self, approval_id: str) -> ApprovalRequest | None:
        """The approval request with this id, or `None`."""
        ...


@dataclass(frozen=True, slots=True)
class StoredBudget:
    """A workflow's budget as a store keeps it: the limits, when it started, and what was spent so far."""

    budget: Budget
    started_at: datetime
    spent: Usage


@runtime_checkable
class WorkflowBudgets(Protocol):
    """Durable per-workflow budgets, so that a budget holds across a restart (memory, SQLite, PostgreSQL)."""

    async def save_budget(self, correlation_id: str, budget: Budget, started_at: datetime) -> None:
        """Set the workflow's budget; a workflow that has one keeps its start and its spending."""
        ...

    async def add_spending(self, correlation_id: str, usage: Usage) -> None:
        """Add `usage` to what the workflow spent, atomically (several workers may add at once)."""
        ...

    async def workflow_budget(self, correlation_id: str) -> StoredBudget | None:
        """The workflow's budget and spending; `None` when it has no budget."""
        ...

    async def workflow_budgets(self) -> dict[str, StoredBudget]:
        """Every workflow that has a budget, with its spending."""
        ...


class BlackboardStore(ArtifactLog, WorkQueue, RunState, WorkflowControls, ApprovalLog, Protocol):
    """Where artifacts and the durable state of runs live: the artifact log, the work queue, the run state.

    Artifacts are immutable and ordered. `commit` applies one step of a run atomically: new artifacts, the
    work items they complete, the completion of the work item that produced them, timer states and expired
    joins. Every backend (memory, SQLite, PostgreSQL) passes the same contract tests.
    """

    async def close(self) -> None:
        """Release resources (and the hold of a local board, see `ExclusiveBoard`)."""
        ...


@runtime_checkable
class ExclusiveBoard(Protocol):
    """A store that can guarantee one local run at a time (the in-memory and SQLite stores).

    Holding the board is also how a starting run knows that every lease it finds is abandoned: no other
    run can hold one, whatever its process id. The hold ends when the store is closed or its process ends.
    """

    async def hold(self, owner: str) -> None:
        """Hold the board for `owner`; raises `BoardInUseError` naming the holder if another run holds it."""
        ...
