"""The SQLite blackboard store: embedded, durable, resumable; one run at a time, readable by any process."""

from __future__ import annotations

import dataclasses
import os
import sqlite3
import threading
import time
import warnings
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any, Literal, TypeVar
from uuid import UUID

import anyio.to_thread
from pydantic import BaseModel

from ..._budget import Budget
from ..._clock import utcnow
from ..._usage import Usage
from ...exceptions import ConfigurationError, StoreError
from .._approvals import ApprovalRequest, ApprovalStatus
from .._artifacts import Artifact
from .._budget_rows import budget_json, stored_budget, usage_row
from .._leases import may_lease
from .._registry import type_name_of
from .._store import (
    CONSUMERS_OF_DEPRECATED,
    RECORD_CONSUMPTION_DEPRECATED,
    ArtifactPage,
    ArtifactQuery,
    StoredBudget,
    matches,
)
from .._work import FINISHED, Commit, ExpiredJoin, TimerState, WorkRecord, WorkStatus
from . import _approvals, _retention
from ._lock import BoardLock
from ._retention import RetentionResult
from ._schema import (
    ARTIFACT_JSON,
    WORK_COLUMNS,
    artifact_row,
    expired_join_row,
    micros,
    migrate,
    row_expired_join,
    row_timer,
    row_work,
    timer_row,
    transaction,
    work_row,
)

__all__ = ["SQLiteBlackboardStore", "Synchronous"]

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")
Synchronous = Literal["NORMAL", "FULL"]

_CHUNK = 500  # ids per `IN (...)` list, well below SQLite's bound-parameter limit
_INSERT_ARTIFACT = f"INSERT INTO artifacts VALUES (NULL, {', '.join('?' * 13)})"
_INSERT_WORK = f"INSERT OR IGNORE INTO work_items ({WORK_COLUMNS}) VALUES ({', '.join('?' * 14)})"
_CONSUME = "INSERT OR IGNORE INTO consumptions (agent, artifact_id) VALUES (?, ?)"
_UPSERT_TIMER = (
    "INSERT INTO timers (agent, number, scheduled_at) VALUES (?, ?, ?) "
    "ON CONFLICT (agent) DO UPDATE SET number = excluded.number, scheduled_at = excluded.scheduled_at"
)
_INSERT_EXPIRED = (
    "INSERT INTO expired_joins (agent, subscription, join_key, artifact_ids, types, reason, expired_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)


class SQLiteBlackboardStore:
    """Keeps artifacts and run state in one SQLite file, so a run survives a crash and resumes.

    The schema is created (or migrated) on first use; pass the store to `Flock(store=...)` and nothing else
    is needed. Each `commit` is one transaction. One `Flock` at a time runs on the file: the first to start
    holds it (`hold`) until its store is closed or its process ends, and a second one fails fast with
    `BoardInUseError`. Other processes may still read, append to and maintain the file: writers wait for
    each other (`busy_timeout`) instead of failing, and a work item is leased by one process at a time.

    Args:
        path: the database file (created if missing).
        synchronous: `"NORMAL"` (default) survives a crash of the process; `"FULL"` also survives a power
            loss or OS crash, at the cost of one fsync per commit. See docs/durability.md.
        busy_timeout: seconds a writer waits for another process's write transaction before failing.

    The store may be used again after `close()`; it reopens the file on the next call.

    >>> import anyio, tempfile, pathlib
    >>> from flock_core import Artifact
    >>> async def demo(path: pathlib.Path) -> int:
    ...     store = SQLiteBlackboardStore(path)
    ...     seq = await store.append(Artifact(type="Note", payload={}, correlation_id="c1"))
    ...     await store.close()
    ...     return seq
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     anyio.run(demo, pathlib.Path(folder) / "board.db")
    1
    """

    def __init__(
        self, path: str | os.PathLike[str], *, synchronous: Synchronous = "NORMAL", busy_timeout: float = 30.0
    ) -> None:
        if synchronous not in ("NORMAL", "FULL"):
            raise ConfigurationError(
                f"SQLiteBlackboardStore(synchronous=...) must be 'NORMAL' or 'FULL', got {synchronous!r}"
            )
        if busy_timeout < 0:
            raise ConfigurationError(
                f"SQLiteBlackboardStore(busy_timeout=...) must be >= 0 seconds, got {busy_timeout}"
            )
        self.path = Path(path)
        self._db = _LockedConnection(self.path, synchronous, busy_timeout)
        self._board = BoardLock(self.path)

    def __repr__(self) -> str:
        return f"SQLiteBlackboardStore({str(self.path)!r}, synchronous={self._db.synchronous!r})"

    async def _run(self, operation: Callable[[sqlite3.Connection], T]) -> T:
        """Run `operation` on the store's one connection in a worker thread (cancellation waits for it)."""
        return await anyio.to_thread.run_sync(self._db.call, operation)

    async def append(self, artifact: Artifact) -> int:
        """Store `artifact`; an id that is already stored is rejected."""
        return await self._run(partial(_append, artifacts=(artifact,)))

    async def commit(self, commit: Commit) -> bool:
        """Apply `commit` in one transaction; False (nothing written) if its work item was already finished."""
        return await self._run(partial(_commit, commit=commit))

    async def get(self, artifact_id: UUID) -> Artifact | None:
        """The artifact with this id, or `None`."""
        found = await self.get_many([artifact_id])
        return found[0] if found else None

    async def get_many(self, artifact_ids: Sequence[UUID]) -> list[Artifact]:
        """The artifacts with these ids, in order, skipping missing ones."""
        return await self._run(partial(_get_many, ids=[str(i) for i in artifact_ids]))

    async def query(self, query: ArtifactQuery) -> ArtifactPage:
        """Artifacts matching `query`, oldest first (SQL filters first, then visibility in Python)."""
        return await self._run(partial(_query, query=query))

    async def get_by_type(
        self, model: type[M], *, correlation_id: str | None = None, type_name: str | None = None
    ) -> list[M]:
        """Payloads of `model`'s type (optionally in one workflow) as `model` instances."""
        sql = "SELECT payload FROM artifacts WHERE type = ?"
        params: list[Any] = [type_name or type_name_of(model)]
        if correlation_id is not None:
            sql += " AND correlation_id = ?"
            params.append(correlation_id)
        rows = await self._run(partial(_fetch, sql=sql + " ORDER BY seq", params=params))
        return [model.model_validate_json(row[0]) for row in rows]

    async def record_consumption(self, agent: str, artifact_ids: Sequence[UUID]) -> None:
        """Deprecated: commit `Commit(consumed=...)` instead (the consumption then lands with its step)."""
        warnings.warn(RECORD_CONSUMPTION_DEPRECATED, DeprecationWarning, stacklevel=2)
        pairs = [(agent, str(i)) for i in artifact_ids]
        if pairs:
            await self._run(partial(_write_many, sql=_CONSUME, rows=pairs))

    async def consumers_of(self, artifact_id: UUID) -> frozenset[str]:
        """Deprecated: read `consumed_pairs()` instead."""
        warnings.warn(CONSUMERS_OF_DEPRECATED, DeprecationWarning, stacklevel=2)
        rows = await self._run(
            partial(_fetch, sql="SELECT agent FROM consumptions WHERE artifact_id = ?", params=[str(artifact_id)])
        )
        return frozenset(row[0] for row in rows)

    async def consumed_pairs(self) -> set[tuple[str, UUID]]:
        """Every consumption record."""
        rows = await self._run(partial(_fetch, sql="SELECT agent, artifact_id FROM consumptions", params=[]))
        return {(row[0], UUID(row[1])) for row in rows}

    async def lease(self, key: str, owner: str, until: datetime) -> WorkRecord | None:
        """Lease a pending work item, one whose lease expired, or one `owner` already holds."""
        return await self._run(partial(_lease, key=key, owner=owner, until=until))

    async def release(self, keys: Sequence[str]) -> None:
        """Return leased items to pending (their owner is gone)."""
        sql = "UPDATE work_items SET status = 'pending', lease_owner = NULL, lease_until = NULL "
        sql += "WHERE key = ? AND status = 'leased'"
        if keys:
            await self._run(partial(_write_many, sql=sql, rows=[(key,) for key in keys]))

    async def work(
        self, statuses: Collection[WorkStatus] | None = None, *, correlation_id: str | None = None
    ) -> list[WorkRecord]:
        """Work items in insertion order, optionally filtered by status and workflow."""
        clauses: list[str] = []
        params: list[Any] = []
        if statuses is not None:
            wanted = sorted(set(statuses))
            clauses.append(f"status IN ({', '.join('?' * len(wanted))})")
            params.extend(wanted)
        if correlation_id is not None:
            clauses.append("correlation_id = ?")
            params.append(correlation_id)
        where = " WHERE " + " AND ".join(clauses) if clauses else ""
        sql = f"SELECT {WORK_COLUMNS} FROM work_items{where} ORDER BY seq"
        rows = await self._run(partial(_fetch, sql=sql, params=params))
        return [row_work(row) for row in rows]

    async def requeue(self, key: str) -> bool:
        """Put a failed item back to pending (attempts reset)."""
        sql = "UPDATE work_items SET status = 'pending', attempts = 0, lease_owner = NULL, lease_until = NULL, "
        sql += "retry_at = NULL WHERE key = ? AND status = 'failed'"
        return await self._run(partial(_write_many, sql=sql, rows=[(key,)])) == 1

    async def cancel_workflow(self, correlation_id: str, reason: str) -> list[WorkRecord]:
        """Mark the workflow cancelled and its unfinished work items `cancelled`, in one transaction."""
        return await self._run(partial(_cancel_workflow, correlation_id=correlation_id, reason=reason))

    async def cancelled_workflows(self) -> dict[str, str]:
        """Every cancelled workflow with its reason."""
        rows = await self._run(partial(_fetch, sql="SELECT correlation_id, reason FROM cancelled_workflows"))
        return {row[0]: row[1] for row in rows}

    async def pause_workflow(self, correlation_id: str | None, paused: bool) -> None:
        """Pause or resume one workflow, or the whole board (`None`)."""
        if paused:
            sql = "INSERT OR IGNORE INTO paused_workflows VALUES (?)"
        else:
            sql = "DELETE FROM paused_workflows WHERE correlation_id = ?"
        await self._run(partial(_write_many, sql=sql, rows=[(_EVERY if correlation_id is None else correlation_id,)]))

    async def paused_workflows(self) -> frozenset[str | None]:
        """The paused workflows (`None`: the whole board)."""
        rows = await self._run(partial(_fetch, sql="SELECT correlation_id FROM paused_workflows"))
        return frozenset(None if row[0] == _EVERY else str(row[0]) for row in rows)

    async def approvals(
        self, status: ApprovalStatus | None = "pending", *, correlation_id: str | None = None
    ) -> list[ApprovalRequest]:
        """Approval requests in the order they were held, optionally by status and workflow."""
        return await self._run(partial(_approvals.select, status=status, correlation_id=correlation_id))

    async def approval(self, approval_id: str) -> ApprovalRequest | None:
        """The approval request with this id, or `None`."""
        found = await self._run(partial(_approvals.select, status=None, correlation_id=None, approval_id=approval_id))
        return found[0] if found else None

    async def save_budget(self, correlation_id: str, budget: Budget, started_at: datetime) -> None:
        """Set the workflow's budget, keeping its start and spending if it had one."""
        sql = "INSERT INTO workflow_budgets (correlation_id, budget, started_at) VALUES (?, ?, ?) "
        sql += "ON CONFLICT (correlation_id) DO UPDATE SET budget = excluded.budget"
        await self._run(
            partial(_write_many, sql=sql, rows=[(correlation_id, budget_json(budget), started_at.isoformat())])
        )

    async def add_spending(self, correlation_id: str, usage: Usage) -> None:
        """Add to the spending of a workflow with a budget, in one statement."""
        sql = "UPDATE workflow_budgets SET calls = calls + ?, input_tokens = input_tokens + ?, "
        sql += "output_tokens = output_tokens + ?, cost = cost + ? WHERE correlation_id = ?"
        await self._run(partial(_write_many, sql=sql, rows=[(*usage_row(usage), correlation_id)]))

    async def workflow_budget(self, correlation_id: str) -> StoredBudget | None:
        """The workflow's budget and spending, if it has a budget."""
        rows = await self._run(partial(_fetch, sql=_BUDGETS + " WHERE correlation_id = ?", params=(correlation_id,)))
        return stored_budget(rows[0][1:]) if rows else None

    async def workflow_budgets(self) -> dict[str, StoredBudget]:
        """Every workflow with a budget."""
        rows = await self._run(partial(_fetch, sql=_BUDGETS))
        return {str(row[0]): stored_budget(row[1:]) for row in rows}

    async def timer_states(self) -> list[TimerState]:
        """The last tick of every timer agent."""
        rows = await self._run(partial(_fetch, sql="SELECT agent, number, scheduled_at FROM timers ORDER BY seq"))
        return [row_timer(row) for row in rows]

    async def expired_joins(self) -> list[ExpiredJoin]:
        """Expired join records, oldest first."""
        columns = "agent, subscription, join_key, artifact_ids, types, reason, expired_at"
        rows = await self._run(partial(_fetch, sql=f"SELECT {columns} FROM expired_joins ORDER BY seq"))
        return [row_expired_join(row) for row in rows]

    async def fingerprints(self) -> dict[str, str]:
        """Saved agent fingerprints."""
        rows = await self._run(partial(_fetch, sql="SELECT agent, fingerprint FROM fingerprints"))
        return {row[0]: row[1] for row in rows}

    async def save_fingerprints(self, fingerprints: Mapping[str, str]) -> None:
        """Replace the saved agent fingerprints."""
        await self._run(partial(_save_fingerprints, fingerprints=dict(fingerprints)))

    async def delete_before(self, before: datetime) -> RetentionResult:
        """Delete artifacts created before `before`, except inputs of unfinished work (see `_retention`)."""
        return await self._run(partial(_retention.delete_before, before=before))

    async def export_correlation(self, correlation_id: str, path: str | os.PathLike[str]) -> int:
        """Write one workflow's artifacts to `path` as JSON lines, oldest first; returns how many."""
        return await self._run(partial(_retention.export_correlation, correlation_id=correlation_id, path=path))

    async def import_artifacts(self, path: str | os.PathLike[str]) -> int:
        """Store the artifacts of a JSON lines file, skipping ids already stored; returns how many were new."""
        return await self._run(partial(_retention.import_artifacts, path=path))

    async def vacuum(self) -> None:
        """Checkpoint the write-ahead log and rebuild the file to return free pages to the OS."""
        await self._run(_retention.vacuum)

    async def hold(self, owner: str) -> None:
        """Hold the board for `owner` until `close()` (see `BoardLock`); raises `BoardInUseError` if taken."""
        await anyio.to_thread.run_sync(self._board.acquire, owner)

    async def close(self) -> None:
        """Close the connection (the next call reopens it) and end the hold of the board."""
        await anyio.to_thread.run_sync(self._db.close)
        self._board.release()

    async def list(self) -> list[Artifact]:
        """Every artifact on the board, oldest first."""
        return [*(await self.query(ArtifactQuery())).items]


def _while_busy(statement: Callable[[], object], timeout: float) -> None:
    """Run `statement`, again while another connection holds the lock it needs, for up to `timeout` seconds.

    Switching a new file to WAL needs an exclusive lock, and SQLite reports "database is locked" at once
    instead of calling the busy handler when another process opens the same new file at that moment."""
    deadline, pause = time.monotonic() + timeout, 0.005
    while True:
        try:
            statement()
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.1)


class _LockedConnection:
    """The store's one SQLite connection, opened on first use and used by one thread at a time."""

    def __init__(self, path: Path, synchronous: Synchronous, busy_timeout: float) -> None:
        self.path = path
        self.synchronous: Synchronous = synchronous
        self.busy_timeout = busy_timeout
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False)
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
            _while_busy(lambda: conn.execute("PRAGMA journal_mode = WAL"), self.busy_timeout)
            conn.execute(f"PRAGMA synchronous = {self.synchronous}")
            migrate(conn)
        except BaseException:  # close the half-opened connection, whatever failed, and re-raise
            conn.close()
            raise
        return conn

    def call(self, operation: Callable[[sqlite3.Connection], T]) -> T:
        """Run `operation` on the connection (opening it first if needed); SQLite errors become `StoreError`."""
        with self._lock:
            try:
                if self._conn is None:
                    self._conn = self._open()
                return operation(self._conn)
            except sqlite3.Error as exc:
                raise StoreError(f"SQLite store {str(self.path)!r}: {exc}") from exc

    def close(self) -> None:
        """Close the connection if it is open."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


_BUDGETS = "SELECT correlation_id, budget, started_at, calls, input_tokens, output_tokens, cost FROM workflow_budgets"


def _fetch(conn: sqlite3.Connection, sql: str, params: Sequence[Any] = ()) -> list[Any]:
    return conn.execute(sql, params).fetchall()


def _write_many(conn: sqlite3.Connection, sql: str, rows: Sequence[Sequence[Any]]) -> int:
    with transaction(conn, write=True):
        return sum(conn.execute(sql, row).rowcount for row in rows)


def _insert_artifacts(conn: sqlite3.Connection, artifacts: Sequence[Artifact]) -> int:
    seq = 0
    for artifact in artifacts:
        try:
            seq = conn.execute(_INSERT_ARTIFACT, artifact_row(artifact)).lastrowid or 0
        except sqlite3.IntegrityError as exc:
            raise StoreError(f"artifact {artifact.id} is already stored; artifacts are immutable") from exc
    return seq


def _append(conn: sqlite3.Connection, artifacts: Sequence[Artifact]) -> int:
    with transaction(conn, write=True):
        return _insert_artifacts(conn, artifacts)


def _commit(conn: sqlite3.Connection, commit: Commit) -> bool:
    with transaction(conn, write=True):
        if commit.complete is not None:
            row = conn.execute("SELECT status FROM work_items WHERE key = ?", (commit.complete,)).fetchone()
            if row is None:
                raise StoreError(f"no work item {commit.complete!r} to complete")
            if row[0] in FINISHED:
                return False
        if commit.decide is not None and not _approvals.decide(conn, commit.decide):
            return False
        _insert_artifacts(conn, commit.artifacts)
        for record in _unless_cancelled(conn, commit.enqueue):
            if conn.execute(_INSERT_WORK, work_row(record)).rowcount:
                conn.executemany(_CONSUME, [(record.agent, str(i)) for i in record.input_ids])
        conn.executemany(_CONSUME, [(agent, str(i)) for agent, i in commit.consumed])
        if commit.outcome == "retry" and commit.complete is not None:
            conn.execute(
                "UPDATE work_items SET status = 'pending', last_error = ?, retry_at = ?, lease_owner = NULL, "
                "lease_until = NULL WHERE key = ?",
                (commit.error, None if commit.retry_at is None else commit.retry_at.isoformat(), commit.complete),
            )
        elif commit.complete is not None:
            conn.execute(
                "UPDATE work_items SET status = ?, last_error = ? WHERE key = ?",
                (commit.outcome, commit.error, commit.complete),
            )
        conn.executemany(_UPSERT_TIMER, [timer_row(t) for t in commit.timers])
        conn.executemany(_INSERT_EXPIRED, [expired_join_row(e) for e in commit.expired_joins])
        _approvals.hold(conn, commit.hold)
    return True


def _unless_cancelled(conn: sqlite3.Connection, records: Sequence[WorkRecord]) -> list[WorkRecord]:
    """`records`, those of a cancelled workflow marked `cancelled` (they are stored, but never run)."""
    ids = sorted({r.correlation_id for r in records})
    if not ids:
        return []
    sql = f"SELECT correlation_id FROM cancelled_workflows WHERE correlation_id IN ({', '.join('?' * len(ids))})"
    cancelled = {row[0] for row in conn.execute(sql, ids)}
    return [dataclasses.replace(r, status="cancelled") if r.correlation_id in cancelled else r for r in records]


_EVERY = "*"
"""The `paused_workflows` row that pauses the whole board."""


def _paused(conn: sqlite3.Connection, correlation_id: str) -> bool:
    sql = "SELECT 1 FROM paused_workflows WHERE correlation_id IN (?, ?)"
    return conn.execute(sql, (correlation_id, _EVERY)).fetchone() is not None


def _cancel_workflow(conn: sqlite3.Connection, correlation_id: str, reason: str) -> list[WorkRecord]:
    with transaction(conn, write=True):
        conn.execute(
            "INSERT OR IGNORE INTO cancelled_workflows (correlation_id, reason) VALUES (?, ?)", (correlation_id, reason)
        )
        sql = f"SELECT {WORK_COLUMNS} FROM work_items WHERE correlation_id = ? AND status IN ('pending', 'leased')"
        cancelled = [row_work(row) for row in conn.execute(sql + " ORDER BY seq", (correlation_id,))]
        conn.execute(
            "UPDATE work_items SET status = 'cancelled', lease_owner = NULL "
            "WHERE correlation_id = ? AND status IN ('pending', 'leased')",
            (correlation_id,),
        )
    return cancelled


def _get_many(conn: sqlite3.Connection, ids: Sequence[str]) -> list[Artifact]:
    found: dict[str, Artifact] = {}
    unique = list(dict.fromkeys(ids))
    for start in range(0, len(unique), _CHUNK):
        chunk = unique[start : start + _CHUNK]
        sql = f"SELECT id, {ARTIFACT_JSON} FROM artifacts WHERE id IN ({', '.join('?' * len(chunk))})"
        found.update((row[0], Artifact.model_validate_json(row[1])) for row in conn.execute(sql, chunk))
    return [found[i] for i in ids if i in found]


def _where(query: ArtifactQuery) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    for column, values in (("type", query.types), ("produced_by", query.produced_by)):
        if values is not None:
            clauses.append(f"{column} IN ({', '.join('?' * len(values))})" if values else "0")
            params.extend(sorted(values))
    if query.correlation_id is not None:
        clauses.append("correlation_id = ?")
        params.append(query.correlation_id)
    for tag in sorted(query.tags or ()):
        clauses.append("EXISTS (SELECT 1 FROM json_each(artifacts.tags) WHERE json_each.value = ?)")
        params.append(tag)
    if query.since is not None:
        clauses.append("created_us >= ?")
        params.append(micros(query.since))
    if query.until is not None:
        clauses.append("created_us < ?")
        params.append(micros(query.until))
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def _query(conn: sqlite3.Connection, query: ArtifactQuery) -> ArtifactPage:
    where, params = _where(query)
    select = f"SELECT {ARTIFACT_JSON} FROM artifacts{where} ORDER BY seq"
    if query.visible_to is not None:
        now = query.now or utcnow()
        candidates = (Artifact.model_validate_json(row[0]) for row in conn.execute(select, params))
        found = [a for a in candidates if matches(a, query, now)]
        end = None if query.limit is None else query.offset + query.limit
        return ArtifactPage(items=tuple(found[query.offset : end]), total=len(found), offset=query.offset)
    with transaction(conn, write=False):
        total = int(conn.execute(f"SELECT COUNT(*) FROM artifacts{where}", params).fetchone()[0])
        limit = -1 if query.limit is None else query.limit
        rows = conn.execute(f"{select} LIMIT ? OFFSET ?", [*params, limit, query.offset]).fetchall()
    items = tuple(Artifact.model_validate_json(row[0]) for row in rows)
    return ArtifactPage(items=items, total=total, offset=query.offset)


def _lease(conn: sqlite3.Connection, key: str, owner: str, until: datetime) -> WorkRecord | None:
    with transaction(conn, write=True):
        row = conn.execute(f"SELECT {WORK_COLUMNS} FROM work_items WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        record = row_work(row)
        if _paused(conn, record.correlation_id) or not may_lease(record, owner, utcnow()):
            return None
        leased = dataclasses.replace(
            record, status="leased", attempts=record.attempts + 1, lease_owner=owner, lease_until=until
        )
        conn.execute(
            "UPDATE work_items SET status = 'leased', attempts = ?, lease_owner = ?, lease_until = ? WHERE key = ?",
            (leased.attempts, owner, until.isoformat(), key),
        )
        return leased


def _save_fingerprints(conn: sqlite3.Connection, fingerprints: Mapping[str, str]) -> None:
    with transaction(conn, write=True):
        conn.execute("DELETE FROM fingerprints")
        conn.executemany("INSERT INTO fingerprints (agent, fingerprint) VALUES (?, ?)", fingerprints.items())
