"""Durable work: work items with idempotency keys, and the atomic commits that move a run forward."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from uuid import UUID

from .._ids import id_text
from .._records import plain_init
from ._approvals import ApprovalRequest, Decision
from ._artifacts import Artifact

__all__ = [
    "FINISHED",
    "Commit",
    "ExpiredJoin",
    "Outcome",
    "Tick",
    "TimerState",
    "WorkRecord",
    "WorkStatus",
    "finished",
    "leased",
    "work_key",
]

_set = object.__setattr__
_new = object.__new__

WorkStatus = Literal["pending", "leased", "done", "failed", "cancelled"]
FINISHED: frozenset[WorkStatus] = frozenset({"done", "failed", "cancelled"})
"""The states a work item never leaves on its own (only `requeue` puts a failed item back)."""
Outcome = Literal["done", "failed", "retry"]
"""How a step ends its work item: done, failed for good (a dead letter), or pending again for a retry."""


@dataclass(frozen=True, slots=True)
class ExpiredJoin:
    """A join group that did not complete within its window: reported, never silently dropped.

    Attributes:
        agent: the subscribing agent.
        subscription: the index of its `.consumes()` call.
        key: the join key (its `repr`).
        artifact_ids: the artifacts that were waiting; they stay on the board.
        types: their type names.
        reason: which window elapsed.
        expired_at: when the expiry was detected.
    """

    agent: str
    subscription: int
    key: str
    artifact_ids: tuple[str, ...]
    types: tuple[str, ...]
    reason: str
    expired_at: datetime


@dataclass(frozen=True, slots=True)
class Tick:
    """Which timer tick fired a scheduled activation: its number (from 1) and its scheduled time."""

    number: int
    scheduled_at: datetime


def work_key(agent: str, input_ids: Sequence[UUID], tick: Tick | None = None) -> str:
    """The idempotency key of an activation: the agent and its sorted input ids (or its tick number).

    >>> from uuid import UUID
    >>> work_key("critic", [UUID(int=2), UUID(int=1)]) == work_key("critic", [UUID(int=1), UUID(int=2)])
    True
    """
    if tick is not None:
        return f"{agent}:tick:{tick.number}"
    joined = id_text(input_ids[0]) if len(input_ids) == 1 else ",".join(sorted(str(i) for i in input_ids))
    digest = hashlib.sha256(joined.encode()).hexdigest()[:32]
    return f"{agent}:{digest}"


@plain_init
@dataclass(frozen=True, slots=True)
class WorkRecord:
    """One activation as the store keeps it: pending until leased, then done or failed (or cancelled).

    Attributes:
        key: idempotency key (`work_key`): a second completion of the same key is impossible.
        agent: the agent to run.
        subscription: the index of the `.consumes()` call it completes (-1 for a timer tick).
        input_ids: the input artifacts, in the order the engine receives them.
        correlation_id: the workflow the outputs belong to.
        priority: higher runs first.
        batched: whether the inputs are a batch.
        tick: the timer tick, for scheduled agents.
        status: pending, leased (running), done, failed, or cancelled (its workflow was cancelled).
        attempts: how many times it was started.
        last_error: the error of the last failed attempt.
        lease_owner: the worker holding it while leased; once done or failed, the last one that held it.
        lease_until: when an abandoned lease may be taken over.
        retry_at: for a pending item whose last attempt failed with a transient error: not claimed
            before this time (its backoff); `None` for a first attempt.
    """

    key: str
    agent: str
    subscription: int
    input_ids: tuple[UUID, ...]
    correlation_id: str
    priority: int = 0
    batched: bool = False
    tick: Tick | None = None
    status: WorkStatus = "pending"
    attempts: int = 0
    last_error: str | None = None
    lease_owner: str | None = None
    lease_until: datetime | None = None
    retry_at: datetime | None = None


def leased(record: WorkRecord, owner: str, until: datetime) -> WorkRecord:
    """`record` leased by `owner` until `until`: one more attempt (`dataclasses.replace`, at a fraction of its cost).

    >>> from datetime import UTC
    >>> r = leased(WorkRecord("k", "a", 0, (), "c"), "w1", datetime(2026, 1, 1, tzinfo=UTC))
    >>> (r.status, r.attempts, r.lease_owner)
    ('leased', 1, 'w1')
    """
    r = record
    return WorkRecord(
        r.key, r.agent, r.subscription, r.input_ids, r.correlation_id, r.priority, r.batched, r.tick,
        "leased", r.attempts + 1, r.last_error, owner, until, r.retry_at,
    )  # fmt: skip


def finished(record: WorkRecord, status: WorkStatus, error: str | None) -> WorkRecord:
    """`record` in `status` with `error` as its last error (`dataclasses.replace`, at a fraction of its cost).

    >>> finished(WorkRecord("k", "a", 0, (), "c"), "failed", "boom").last_error
    'boom'
    """
    r = record
    return WorkRecord(
        r.key, r.agent, r.subscription, r.input_ids, r.correlation_id, r.priority, r.batched, r.tick,
        status, r.attempts, error, r.lease_owner, r.lease_until, r.retry_at,
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class TimerState:
    """The last tick a timer agent fired, so a restarted run continues from it."""

    agent: str
    number: int
    scheduled_at: datetime


@dataclass(frozen=True, init=False)
class Commit:
    """Everything one step of a run writes, applied by the store atomically (all or nothing).

    Attributes:
        artifacts: new artifacts, in order.
        enqueue: work items they complete (inserted unless the key exists; their inputs count as consumed).
        complete: the key of the work item this step finishes, if any. When that item is already done or
            failed, the store writes nothing and `commit` returns False, so no output is stored twice.
        outcome: how `complete` ends: `"retry"` puts it back to pending (its attempts kept) until `retry_at`.
        error: the error of a failed (or retried) item.
        retry_at: with `outcome="retry"`, when the item may run again.
        consumed: extra `(agent, artifact id)` consumption records (for `Flock.invoke`).
        timers: timer states to save.
        expired_joins: expired join records to save.
        hold: outputs held for approval (stored with their requests, never routed).
        decide: a decision on a pending approval request. When the request is no longer pending, the
            store writes nothing and `commit` returns False, so a request is decided once.
    """

    artifacts: tuple[Artifact, ...] = ()
    enqueue: tuple[WorkRecord, ...] = ()
    complete: str | None = None
    outcome: Outcome = "done"
    error: str | None = None
    retry_at: datetime | None = None
    consumed: tuple[tuple[str, UUID], ...] = ()
    timers: tuple[TimerState, ...] = ()
    expired_joins: tuple[ExpiredJoin, ...] = ()
    hold: tuple[ApprovalRequest, ...] = ()
    decide: Decision | None = None

    def __init__(  # noqa: PLR0917 - the signature of the dataclass `__init__` it stands for
        self,
        artifacts: tuple[Artifact, ...] = (),
        enqueue: tuple[WorkRecord, ...] = (),
        complete: str | None = None,
        outcome: Outcome = "done",
        error: str | None = None,
        retry_at: datetime | None = None,
        consumed: tuple[tuple[str, UUID], ...] = (),
        timers: tuple[TimerState, ...] = (),
        expired_joins: tuple[ExpiredJoin, ...] = (),
        hold: tuple[ApprovalRequest, ...] = (),
        decide: Decision | None = None,
    ) -> None:
        # What the `__init__` of a frozen dataclass does (one `object.__setattr__` per field), in one
        # assignment: every step builds a commit or two, and this takes half the time.
        _set(
            self,
            "__dict__",
            {
                "artifacts": artifacts,
                "enqueue": enqueue,
                "complete": complete,
                "outcome": outcome,
                "error": error,
                "retry_at": retry_at,
                "consumed": consumed,
                "timers": timers,
                "expired_joins": expired_joins,
                "hold": hold,
                "decide": decide,
            },
        )

    def adding(self, enqueue: tuple[WorkRecord, ...], expired_joins: tuple[ExpiredJoin, ...]) -> Commit:
        """This commit with more work items and expired joins (`dataclasses.replace`, at a fraction of its cost).

        >>> Commit(complete="k").adding((WorkRecord("k2", "a", 0, (), "c"),), ()).complete
        'k'
        """
        fields = self.__dict__.copy()  # a commit keeps its fields in its dict (see `__init__`)
        if enqueue:
            fields["enqueue"] = (*self.enqueue, *enqueue) if self.enqueue else enqueue
        if expired_joins:
            fields["expired_joins"] = (*self.expired_joins, *expired_joins) if self.expired_joins else expired_joins
        commit = _new(Commit)
        _set(commit, "__dict__", fields)
        return commit
