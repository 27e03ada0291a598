"""Leases: who owns a running work item, and the one rule that says whether it may be leased.

A lease owner is a random token per orchestrator (`new_owner`); its host and process id are only there to
help a human reading the store. Liveness is never judged from the process id (ids are reused, a container's
app is always PID 1, a zombie keeps its id): a local board knows its leases are abandoned because it holds
the board exclusively (`ExclusiveBoard`), a shared board because they expired.

The lease rule is written once, here, in two renderings that the tests prove equal on every combination
of status, owner and expiry: `may_lease` (Python: the in-memory and SQLite stores) and `leasable_sql`
(a SQL condition on a `work_items` row: the PostgreSQL store).

    A work item may be leased by `owner` at `now` when it is pending, or when it is leased and that
    lease does not stand against `owner`: it has no expiry, it expired (`lease_until <= now`), or `owner`
    already holds it. A done or failed item is never leased. A claim (`owner` = `None`) takes only
    pending items whose retry is due (`retry_at` unset or reached) and expired leases; a lease of one
    key (the local runtime, which schedules its retries itself) does not wait for `retry_at`.

A lease is **held by** `owner` when the item is leased and its owner is `owner` (`held_by`, `held_by_sql`):
what a renewal extends.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import LiteralString

from ._work import WorkRecord

__all__ = ["held_by", "held_by_sql", "leasable_sql", "may_lease", "new_owner"]


def new_owner() -> str:
    """A fresh lease owner token: `host/pid/random` (the random part alone makes it unique).

    >>> new_owner() != new_owner()
    True
    """
    import socket  # not at import time: `import flock_core` stays light

    return f"{socket.gethostname()}/{os.getpid()}/{os.urandom(8).hex()}"


def may_lease(record: WorkRecord, owner: str | None, now: datetime) -> bool:
    """Whether `owner` may lease `record` at `now` (`owner=None`: whether a claim may take it).

    >>> from datetime import UTC, datetime
    >>> until = datetime(2100, 1, 1, tzinfo=UTC)
    >>> item = WorkRecord("k", "a", 0, (), "c", status="leased", lease_owner="w1", lease_until=until)
    >>> [may_lease(item, owner, datetime.now(UTC)) for owner in ("w1", "w2", None)]
    [True, False, False]
    """
    if record.status == "pending":
        return owner is not None or record.retry_at is None or record.retry_at <= now
    if record.status != "leased":
        return False
    expired = record.lease_until is None or record.lease_until <= now
    return expired or (owner is not None and record.lease_owner == owner)


def leasable_sql(*, owner: LiteralString | None, now: LiteralString) -> LiteralString:
    """`may_lease` as a SQL condition on a `work_items` row; `owner` and `now` are SQL expressions.

    >>> leasable_sql(owner=None, now="now()")  # doctest: +NORMALIZE_WHITESPACE
    "((status = 'pending' AND (retry_at IS NULL OR retry_at <= now()))
      OR (status = 'leased' AND (lease_until IS NULL OR lease_until <= now())))"
    """
    mine: LiteralString = "" if owner is None else f" OR lease_owner = {owner}"
    pending: LiteralString = (
        "status = 'pending'"
        if owner is not None
        else f"(status = 'pending' AND (retry_at IS NULL OR retry_at <= {now}))"
    )
    return f"({pending} OR (status = 'leased' AND (lease_until IS NULL OR lease_until <= {now}{mine})))"


def held_by(record: WorkRecord, owner: str) -> bool:
    """Whether `owner` holds the lease of `record` (expired or not: nobody else took it yet)."""
    return record.status == "leased" and record.lease_owner == owner


def held_by_sql(owner: LiteralString) -> LiteralString:
    """`held_by` as a SQL condition on a `work_items` row; `owner` is a SQL expression."""
    return f"(status = 'leased' AND lease_owner = {owner})"
