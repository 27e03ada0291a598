"""The in-memory blackboard store: the fastest backend, the default for scripts and tests."""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime
from typing import TypeVar
from uuid import UUID

import anyio
from pydantic import BaseModel

from ..._budget import Budget
from ..._clock import utcnow
from ..._usage import Usage
from ...exceptions import BoardInUseError, StoreError
from .._approvals import ApprovalRequest, ApprovalStatus, Decision
from .._artifacts import Artifact
from .._leases import held_by, may_lease
from .._registry import type_name_of
from .._shared import BoardState, Renewal
from .._store import (
    CONSUMERS_OF_DEPRECATED,
    RECORD_CONSUMPTION_DEPRECATED,
    ArtifactPage,
    ArtifactQuery,
    StoredBudget,
    matches,
)
from .._work import FINISHED, Commit, ExpiredJoin, TimerState, WorkRecord, WorkStatus, finished, leased

__all__ = ["InMemoryBlackboardStore"]

M = TypeVar("M", bound=BaseModel)


class InMemoryBlackboardStore:
    """Keeps artifacts and run state in process memory, indexed by id, type and correlation id.

    Nothing survives the process; use `SQLiteBlackboardStore` for that. With `shared=True` it also acts as
    a shared work queue (`SharedQueueStore`) for several `Flock` objects in one process, which runs the
    distributed mode (one router, workers claiming leased work) without a database.

    >>> import anyio
    >>> from flock_core import Artifact
    >>> store = InMemoryBlackboardStore()
    >>> anyio.run(store.append, Artifact(type="Note", payload={}, correlation_id="c1"))
    1
    """

    def __init__(self, *, shared: bool = False) -> None:
        self._shared = shared
        self._leader: str | None = None
        self._cursor = 0
        self._state = BoardState(0, 0, 0, 0)
        self._changed: anyio.Event | None = None
        self._order: list[Artifact] = []
        self._by_id: dict[int, Artifact] = {}  # by the id's integer: hashing it is C code, not `UUID.__hash__`
        self._by_type: dict[str, list[Artifact]] = {}
        self._by_correlation: dict[str, list[Artifact] | Artifact] = {}
        self._consumers: dict[int, set[str]] = {}  # by the id's integer, as `_by_id`
        self._work: dict[str, WorkRecord] = {}
        self._timers: dict[str, TimerState] = {}
        self._expired: list[ExpiredJoin] = []
        self._fingerprints: dict[str, str] = {}
        self._cancelled: dict[str, str] = {}
        self._paused: set[str | None] = set()
        self._approvals: dict[str, ApprovalRequest] = {}
        self._budgets: dict[str, StoredBudget] = {}
        self._holder: str | None = None

    def __len__(self) -> int:
        return len(self._order)

    @property
    def shared(self) -> bool:
        """Whether this store runs its boards in distributed mode."""
        return self._shared

    def _notify(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = None

    def _add(self, artifact: Artifact) -> int:
        self._notify()
        return self._index(artifact)

    def _index(self, artifact: Artifact) -> int:
        """Keep `artifact` in every index (its order, id, type, workflow); the caller notifies waiters."""
        self._order.append(artifact)
        self._by_id[artifact.id.int] = artifact
        if (same_type := self._by_type.get(artifact.type)) is None:
            self._by_type[artifact.type] = [artifact]
        else:
            same_type.append(artifact)
        workflow = self._by_correlation.get(cid := artifact.correlation_id)
        if workflow is None:  # a workflow of one artifact keeps no list (each publish may start a workflow)
            self._by_correlation[cid] = artifact
        elif isinstance(workflow, list):
            workflow.append(artifact)
        else:
            self._by_correlation[cid] = [workflow, artifact]
        return len(self._order)

    async def append(self, artifact: Artifact) -> int:
        """Store `artifact`; an id that is already stored is rejected."""
        if artifact.id.int in self._by_id:
            raise StoreError(f"artifact {artifact.id} is already stored; artifacts are immutable")
        return self._add(artifact)

    async def commit(self, commit: Commit) -> bool:
        """Apply `commit` (checks first, then writes, so a failed check writes nothing)."""
        return self.commit_at_once(commit)

    def at_once(self) -> Callable[[Commit], bool] | None:
        """`commit_at_once`, unless a subclass overrides `commit` (then each step goes through its `commit`)."""
        return self.commit_at_once if type(self).commit is InMemoryBlackboardStore.commit else None

    def completes(self, key: str) -> bool:
        """Whether a step that completes work item `key` would land now: it is stored and not finished."""
        current = self._work.get(key)
        return current is not None and current.status not in FINISHED

    def commit_at_once(self, commit: Commit) -> bool:
        """`commit`, synchronous: a step on this store never waits, so nothing can interrupt it half-way."""
        if commit.complete is not None:
            current = self._work.get(commit.complete)
            if current is None:
                raise StoreError(f"no work item {commit.complete!r} to complete")
            if current.status in FINISHED:
                return False
        if commit.decide is not None and not self._pending(commit.decide):
            return False
        self._check_new(commit.artifacts)
        for artifact in commit.artifacts:
            self._index(artifact)
        if self._changed is not None:
            self._notify()
        for record in commit.enqueue:
            self._enqueue(record)
        for agent, artifact_id in commit.consumed:
            self._consumers.setdefault(artifact_id.int, set()).add(agent)
        if commit.complete is not None:
            self._work[commit.complete] = _completed(self._work[commit.complete], commit)
        if commit.timers or commit.expired_joins or commit.hold or commit.decide is not None:
            self._save_run_state(commit)
        return True

    def _save_run_state(self, commit: Commit) -> None:
        """The timers, expired joins and approvals of a step (most steps have none)."""
        self._timers.update({t.agent: t for t in commit.timers})
        self._expired.extend(commit.expired_joins)
        self._approvals.update({request.id: request for request in commit.hold})
        if (decision := commit.decide) is not None:
            self._approvals[decision.approval_id] = dataclasses.replace(
                self._approvals[decision.approval_id],
                status=decision.outcome,
                decided_by=decision.by,
                decided_at=decision.at,
                reason=decision.reason,
            )

    def _check_new(self, artifacts: Sequence[Artifact]) -> None:
        """Refuse a step whose artifacts are already stored, or repeat one another."""
        if len(artifacts) == 1:  # one artifact (a publish) cannot repeat itself
            if artifacts[0].id.int in self._by_id:
                raise StoreError(f"artifact {artifacts[0].id} is already stored; artifacts are immutable")
            return
        ids: set[int] = set()
        for artifact in artifacts:
            if (number := artifact.id.int) in self._by_id or number in ids:
                raise StoreError(f"artifact {artifact.id} is already stored; artifacts are immutable")
            ids.add(number)

    def _pending(self, decision: Decision) -> bool:
        request = self._approvals.get(decision.approval_id)
        if request is None:
            raise StoreError(f"no approval request {decision.approval_id!r} to decide")
        return request.status == "pending"

    async def approvals(
        self, status: ApprovalStatus | None = "pending", *, correlation_id: str | None = None
    ) -> list[ApprovalRequest]:
        """Approval requests in the order they were held, optionally by status and workflow."""
        return [
            r
            for r in self._approvals.values()
            if (status is None or r.status == status) and correlation_id in (None, r.correlation_id)
        ]

    async def approval(self, approval_id: str) -> ApprovalRequest | None:
        """The approval request with this id, or `None`."""
        return self._approvals.get(approval_id)

    def _enqueue(self, record: WorkRecord) -> None:
        """Insert a work item unless its key exists (stored `cancelled` when its workflow was cancelled)."""
        if record.key in self._work:
            return
        if record.correlation_id in self._cancelled:
            record = dataclasses.replace(record, status="cancelled")
        self._work[record.key] = record
        for artifact_id in record.input_ids:
            self._consumers.setdefault(artifact_id.int, set()).add(record.agent)

    async def get(self, artifact_id: UUID) -> Artifact | None:
        """The artifact with this id, or `None`."""
        return self._by_id.get(artifact_id.int)

    async def get_many(self, artifact_ids: Sequence[UUID]) -> list[Artifact]:
        """The artifacts with these ids, in order, skipping missing ones."""
        by_id = self._by_id
        return [artifact for i in artifact_ids if (artifact := by_id.get(i.int)) is not None]

    def _candidates(self, query: ArtifactQuery) -> list[Artifact]:
        if query.correlation_id is not None:
            workflow = self._by_correlation.get(query.correlation_id, [])
            return workflow if isinstance(workflow, list) else [workflow]
        if query.types is not None and len(query.types) == 1:
            (name,) = query.types
            return self._by_type.get(name, [])
        return self._order

    async def query(self, query: ArtifactQuery) -> ArtifactPage:
        """Artifacts matching `query`, oldest first."""
        now = query.now or utcnow()
        found = [a for a in self._candidates(query) if matches(a, query, now)]
        offset, limit = query.offset, query.limit
        if not offset and limit is None:  # every match (a context provider's query): no slice to copy
            return ArtifactPage(tuple(found), len(found), 0)
        return ArtifactPage(tuple(found[offset : None if limit is None else offset + limit]), len(found), offset)

    async def get_by_type(
        self, model: type[M], *, correlation_id: str | None = None, type_name: str | None = None
    ) -> list[M]:
        """Payloads of `model`'s type (optionally in one workflow) as `model` instances.

        The type name defaults to the model's `@flock_type` name or class name; pass `type_name` for a
        model registered under another name (or use `Flock.get_by_type`, which knows the registry).
        """
        name = type_name or type_name_of(model)
        return [
            model.model_validate(a.payload)
            for a in self._by_type.get(name, [])
            if correlation_id is None or a.correlation_id == correlation_id
        ]

    async def record_consumption(self, agent: str, artifact_ids: Sequence[UUID]) -> None:
        """Deprecated: commit `Commit(consumed=...)` instead (the consumption then lands with its step)."""
        warnings.warn(RECORD_CONSUMPTION_DEPRECATED, DeprecationWarning, stacklevel=2)
        for artifact_id in artifact_ids:
            self._consumers.setdefault(artifact_id.int, set()).add(agent)

    async def consumers_of(self, artifact_id: UUID) -> frozenset[str]:
        """Deprecated: read `consumed_pairs()` instead."""
        warnings.warn(CONSUMERS_OF_DEPRECATED, DeprecationWarning, stacklevel=2)
        return frozenset(self._consumers.get(artifact_id.int, ()))

    async def consumed_pairs(self) -> set[tuple[str, UUID]]:
        """Every consumption record."""
        return {(agent, UUID(int=number)) for number, agents in self._consumers.items() for agent in agents}

    async def lease(self, key: str, owner: str, until: datetime) -> WorkRecord | None:
        """Lease a pending work item (or one whose lease has expired)."""
        return self.lease_at_once(key, owner, until)

    def lease_at_once(self, key: str, owner: str, until: datetime) -> WorkRecord | None:
        """`lease`, synchronous. A run calls it instead of `lease` unless a subclass overrides `lease`."""
        record = self._work.get(key)
        if record is None or self._is_paused(record.correlation_id) or not may_lease(record, owner, utcnow()):
            return None
        self._work[key] = taken = leased(record, owner, until)
        return taken

    async def release(self, keys: Sequence[str]) -> None:
        """Return leased items to pending (their owner is gone)."""
        for key in keys:
            record = self._work.get(key)
            if record is not None and record.status == "leased":
                self._work[key] = dataclasses.replace(record, status="pending", lease_owner=None, lease_until=None)

    async def work(
        self, statuses: Collection[WorkStatus] | None = None, *, correlation_id: str | None = None
    ) -> list[WorkRecord]:
        """Work items in insertion order, optionally filtered by status and workflow."""
        return [
            r
            for r in self._work.values()
            if (statuses is None or r.status in statuses) and correlation_id in (None, r.correlation_id)
        ]

    async def requeue(self, key: str) -> bool:
        """Put a failed item back to pending."""
        record = self._work.get(key)
        if record is None or record.status != "failed":
            return False
        self._work[key] = dataclasses.replace(
            record, status="pending", attempts=0, lease_owner=None, lease_until=None, retry_at=None
        )
        self._notify()
        return True

    async def cancel_workflow(self, correlation_id: str, reason: str) -> list[WorkRecord]:
        """Mark the workflow cancelled and its unfinished work items `cancelled`."""
        self._cancelled.setdefault(correlation_id, reason)
        cancelled: list[WorkRecord] = []
        for key, record in self._work.items():
            if record.correlation_id == correlation_id and record.status in ("pending", "leased"):
                cancelled.append(record)
                self._work[key] = dataclasses.replace(record, status="cancelled", lease_owner=None)
        self._notify()
        return cancelled

    async def cancelled_workflows(self) -> dict[str, str]:
        """Every cancelled workflow with its reason."""
        return dict(self._cancelled)

    def _is_paused(self, correlation_id: str) -> bool:
        return bool(self._paused) and (None in self._paused or correlation_id in self._paused)

    async def pause_workflow(self, correlation_id: str | None, paused: bool) -> None:
        """Pause or resume one workflow, or the whole board (`None`)."""
        if paused:
            self._paused.add(correlation_id)
        else:
            self._paused.discard(correlation_id)
            self._notify()

    async def paused_workflows(self) -> frozenset[str | None]:
        """The paused workflows (`None`: the whole board)."""
        return frozenset(self._paused)

    async def save_budget(self, correlation_id: str, budget: Budget, started_at: datetime) -> None:
        """Set the workflow's budget, keeping its start and spending if it had one."""
        stored = self._budgets.get(correlation_id)
        self._budgets[correlation_id] = (
            dataclasses.replace(stored, budget=budget) if stored else StoredBudget(budget, started_at, Usage())
        )

    async def add_spending(self, correlation_id: str, usage: Usage) -> None:
        """Add to the spending of a workflow with a budget."""
        stored = self._budgets.get(correlation_id)
        if stored is not None:
            self._budgets[correlation_id] = dataclasses.replace(stored, spent=stored.spent + usage)

    async def workflow_budget(self, correlation_id: str) -> StoredBudget | None:
        """The workflow's budget and spending, if it has a budget."""
        return self._budgets.get(correlation_id)

    async def workflow_budgets(self) -> dict[str, StoredBudget]:
        """Every workflow with a budget."""
        return dict(self._budgets)

    async def timer_states(self) -> list[TimerState]:
        """The last tick of every timer agent."""
        return list(self._timers.values())

    async def expired_joins(self) -> list[ExpiredJoin]:
        """Expired join records, oldest first."""
        return list(self._expired)

    async def fingerprints(self) -> dict[str, str]:
        """Saved agent fingerprints."""
        return dict(self._fingerprints)

    async def save_fingerprints(self, fingerprints: Mapping[str, str]) -> None:
        """Replace the saved agent fingerprints."""
        self._fingerprints = dict(fingerprints)

    # -- shared work queue (used when shared=True) ---------------------------------------------------

    async def try_lead(self, owner: str) -> bool:
        """Become the router unless a live owner leads (an owner leads until `resign`)."""
        if self._leader is None:
            self._leader = owner
        return self._leader == owner

    def resign(self, owner: str) -> None:
        """Stop leading, so another owner can take over (a crashed process in a database store)."""
        if self._leader == owner:
            self._leader = None

    async def unrouted(self, after_seq: int, limit: int) -> list[tuple[int, Artifact]]:
        """Artifacts after `after_seq`, oldest first."""
        return [(seq, a) for seq, a in enumerate(self._order[after_seq : after_seq + limit], start=after_seq + 1)]

    async def commit_routing(self, commit: Commit, cursor: int, state: BoardState) -> bool:
        """Apply a routing commit and record the cursor and open groups."""
        applied = await self.commit(commit)
        self._cursor = max(self._cursor, cursor)
        self._state = state
        return applied

    async def router_cursor(self) -> int:
        """The last routed sequence number."""
        return self._cursor

    async def claim(
        self, owner: str, *, limit: int, agents: Collection[str] | None, lease_until: datetime
    ) -> list[WorkRecord]:
        """Lease up to `limit` claimable items, highest priority first."""
        now = utcnow()
        candidates = [
            r
            for r in self._work.values()
            if (agents is None or r.agent in agents)
            and may_lease(r, None, now)
            and not self._is_paused(r.correlation_id)
        ]
        candidates.sort(key=lambda r: -r.priority)
        claimed: list[WorkRecord] = []
        for record in candidates[:limit]:
            leased = await self.lease(record.key, owner, lease_until)
            if leased is not None:
                claimed.append(leased)
        return claimed

    async def renew(self, keys: Sequence[str], owner: str, lease_until: datetime) -> Renewal:
        """Extend leases held by `owner`; report the unfinished ones it no longer holds as lost."""
        renewed: set[str] = set()
        lost: set[str] = set()
        for key in keys:
            record = self._work.get(key)
            if record is not None and held_by(record, owner):
                self._work[key] = dataclasses.replace(record, lease_until=lease_until)
                renewed.add(key)
            elif record is not None and record.lease_owner != owner:  # finished by `owner` keeps `owner`
                lost.add(key)
        return Renewal(frozenset(renewed), frozenset(lost))

    async def board_state(self) -> BoardState:
        """Counts of what is left to do."""
        statuses = [r.status for r in self._work.values() if not self._is_paused(r.correlation_id)]
        return BoardState(
            unrouted=len(self._order) - self._cursor,
            pending=statuses.count("pending"),
            leased=statuses.count("leased"),
            open_groups=self._state.open_groups,
            delayed=self._state.delayed,
        )

    async def wait_for_change(self, timeout: float) -> None:
        """Wait until something is stored, or `timeout` seconds."""
        if self._changed is None:
            self._changed = anyio.Event()
        with anyio.move_on_after(timeout):
            await self._changed.wait()

    async def hold(self, owner: str) -> None:
        """Hold the board for `owner` until `close()` (in memory, only Flocks of this process can compete)."""
        if self._holder not in (None, owner):
            raise BoardInUseError("this InMemoryBlackboardStore", f"lease owner {self._holder}")
        self._holder = owner

    async def close(self) -> None:
        """End the hold of the board (the artifacts and run state stay)."""
        self._holder = None

    async def list(self) -> list[Artifact]:
        """Every artifact on the board, oldest first."""
        return [*(await self.query(ArtifactQuery())).items]


def _completed(record: WorkRecord, commit: Commit) -> WorkRecord:
    """`record` as `commit` ends it: done or failed, or pending again until `commit.retry_at` (a retry)."""
    if commit.outcome == "retry":
        return dataclasses.replace(
            record,
            status="pending",
            last_error=commit.error,
            retry_at=commit.retry_at,
            lease_owner=None,
            lease_until=None,
        )
    return finished(record, commit.outcome, commit.error)
