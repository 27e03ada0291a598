"""How the PostgreSQL store's records map to statement parameters and rows back to records."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .._work import ExpiredJoin, Tick, WorkRecord

__all__ = ["expired_row", "row_work", "work_arrays"]


def work_arrays(records: Sequence[WorkRecord]) -> tuple[list[Any], ...]:
    """The parallel arrays `ENQUEUE` unnests, one element per record (`records` is not empty)."""
    rows = [
        (r.key, r.agent, r.subscription, ",".join(map(str, r.input_ids)), r.correlation_id, r.priority, r.batched)
        + ((None, None) if r.tick is None else (r.tick.number, r.tick.scheduled_at))
        + (r.status, r.attempts, r.last_error, r.lease_owner, r.lease_until, r.retry_at)
        for r in records
    ]
    return tuple(list(column) for column in zip(*rows, strict=True))


def row_work(row: Sequence[Any]) -> WorkRecord:
    """The work record in a row of `WORK_COLUMNS`."""
    tick = None if row[7] is None else Tick(row[7], row[8])
    return WorkRecord(row[0], row[1], row[2], tuple(row[3]), row[4], row[5], row[6], tick, *row[9:15])


def expired_row(join: ExpiredJoin) -> tuple[Any, ...]:
    """The `INSERT_EXPIRED` parameters of `join`."""
    key = (join.agent, join.subscription, join.key)
    return (*key, list(join.artifact_ids), list(join.types), join.reason, join.expired_at)
