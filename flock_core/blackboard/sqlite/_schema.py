"""The SQLite store's schema, its migrations, and how records map to rows and back.

The schema version is the database's `PRAGMA user_version`: migration `n` (1-based) of `MIGRATIONS` brings
version `n - 1` to `n`. A new version appends one step and never edits an old one.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Generator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, cast
from uuid import UUID

from ...exceptions import StoreError
from .._artifacts import Artifact
from .._work import ExpiredJoin, Tick, TimerState, WorkRecord, WorkStatus

__all__ = [
    "ARTIFACT_JSON",
    "MIGRATIONS",
    "WORK_COLUMNS",
    "artifact_row",
    "expired_join_row",
    "micros",
    "migrate",
    "row_expired_join",
    "row_timer",
    "row_work",
    "timer_row",
    "transaction",
    "work_row",
]

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # 1: the initial schema.
    (
        """CREATE TABLE artifacts (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            id TEXT NOT NULL UNIQUE,
            type TEXT NOT NULL,
            produced_by TEXT NOT NULL,
            correlation_id TEXT NOT NULL,
            partition_key TEXT,
            created_at TEXT NOT NULL,
            created_us INTEGER NOT NULL,
            version INTEGER NOT NULL,
            payload TEXT NOT NULL,
            tags TEXT NOT NULL,
            visibility TEXT NOT NULL,
            consumed_from TEXT NOT NULL,
            trace_context TEXT NOT NULL
        )""",
        "CREATE INDEX artifacts_type ON artifacts (type, seq)",
        "CREATE INDEX artifacts_correlation ON artifacts (correlation_id, seq)",
        "CREATE INDEX artifacts_producer ON artifacts (produced_by, seq)",
        "CREATE INDEX artifacts_created ON artifacts (created_us)",
        """CREATE TABLE consumptions (
            agent TEXT NOT NULL,
            artifact_id TEXT NOT NULL,
            PRIMARY KEY (agent, artifact_id)
        ) WITHOUT ROWID""",
        "CREATE INDEX consumptions_artifact ON consumptions (artifact_id)",
        """CREATE TABLE work_items (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            key TEXT NOT NULL UNIQUE,
            agent TEXT NOT NULL,
            subscription INTEGER NOT NULL,
            input_ids TEXT NOT NULL,
            correlation_id TEXT NOT NULL,
            priority INTEGER NOT NULL,
            batched INTEGER NOT NULL,
            tick TEXT,
            status TEXT NOT NULL,
            attempts INTEGER NOT NULL,
            last_error TEXT,
            lease_owner TEXT,
            lease_until TEXT
        )""",
        "CREATE INDEX work_items_status ON work_items (status, seq)",
        """CREATE TABLE timers (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            agent TEXT NOT NULL UNIQUE,
            number INTEGER NOT NULL,
            scheduled_at TEXT NOT NULL
        )""",
        """CREATE TABLE expired_joins (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            agent TEXT NOT NULL,
            subscription INTEGER NOT NULL,
            join_key TEXT NOT NULL,
            artifact_ids TEXT NOT NULL,
            types TEXT NOT NULL,
            reason TEXT NOT NULL,
            expired_at TEXT NOT NULL
        )""",
        "CREATE TABLE fingerprints (agent TEXT PRIMARY KEY, fingerprint TEXT NOT NULL) WITHOUT ROWID",
    ),
    # 2: cancelled workflows (their work items get the status 'cancelled').
    # Paused workflows ('*': the whole board) are neither leased nor claimed.
    (
        "CREATE TABLE cancelled_workflows (correlation_id TEXT PRIMARY KEY, reason TEXT NOT NULL) WITHOUT ROWID",
        "CREATE TABLE paused_workflows (correlation_id TEXT PRIMARY KEY) WITHOUT ROWID",
    ),
    # 3: outputs held for approval (`_approvals`), with the decision once one is made.
    (
        """CREATE TABLE approvals (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            id TEXT NOT NULL UNIQUE,
            correlation_id TEXT NOT NULL,
            status TEXT NOT NULL,
            document TEXT NOT NULL,
            decided_by TEXT,
            decided_at TEXT,
            reason TEXT
        )""",
        "CREATE INDEX approvals_status ON approvals (status, seq)",
    ),
    # 4: retries: a pending work item whose last attempt failed is not claimed before `retry_at`.
    ("ALTER TABLE work_items ADD COLUMN retry_at TEXT",),
    # 5: workflows' budgets (limits as JSON) and what they spent, so a budget holds across a restart.
    (
        """CREATE TABLE workflow_budgets (
            correlation_id TEXT PRIMARY KEY,
            budget TEXT NOT NULL,
            started_at TEXT NOT NULL,
            calls INTEGER NOT NULL DEFAULT 0,
            input_tokens INTEGER NOT NULL DEFAULT 0,
            output_tokens INTEGER NOT NULL DEFAULT 0,
            cost REAL NOT NULL DEFAULT 0
        ) WITHOUT ROWID""",
    ),
)
"""Schema migrations in order; each step is a list of statements applied in one transaction."""

ARTIFACT_JSON = """json_object(
    'id', id, 'type', type, 'payload', json(payload), 'produced_by', produced_by,
    'correlation_id', correlation_id, 'partition_key', partition_key, 'tags', json(tags),
    'visibility', json(visibility), 'created_at', created_at, 'version', version,
    'consumed_from', json(consumed_from), 'trace_context', json(trace_context))"""
"""A SQL expression rebuilding an artifact row as the JSON that `Artifact.model_validate_json` reads."""

WORK_COLUMNS = (
    "key, agent, subscription, input_ids, correlation_id, priority, batched, tick, status, attempts, "
    "last_error, lease_owner, lease_until, retry_at"
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@contextmanager
def transaction(conn: sqlite3.Connection, *, write: bool) -> Generator[sqlite3.Connection]:
    """One transaction: `BEGIN IMMEDIATE` for writes (the write lock is taken up front, so two processes
    never both read-then-write the same rows), a deferred `BEGIN` for consistent reads."""
    conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:  # roll back on any failure, cancellation included, and re-raise
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def migrate(conn: sqlite3.Connection, migrations: Sequence[Sequence[str]] = MIGRATIONS) -> int:
    """Apply the migrations the database has not seen yet, in order; returns the schema version."""
    target = len(migrations)
    if _user_version(conn) == target:
        return target
    with transaction(conn, write=True):
        version = _user_version(conn)
        if version > target:
            raise StoreError(f"the store has schema version {version}, newer than this flock_core ({target})")
        for number in range(version + 1, target + 1):
            for statement in migrations[number - 1]:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {number}")
    return target


def _user_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def micros(moment: datetime) -> int:
    """`moment` as sortable microseconds since the epoch (a naive time counts as UTC)."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return (aware - _EPOCH) // timedelta(microseconds=1)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _time(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _tick_json(tick: Tick) -> str:
    return _json({"number": tick.number, "scheduled_at": tick.scheduled_at.isoformat()})


def _json_tick(text: str) -> Tick:
    data = cast(dict[str, Any], json.loads(text))
    return Tick(int(data["number"]), datetime.fromisoformat(data["scheduled_at"]))


def artifact_row(artifact: Artifact) -> tuple[Any, ...]:
    """The `artifacts` columns after `seq`, in table order."""
    data = artifact.model_dump(mode="json")
    return (
        data["id"],
        artifact.type,
        artifact.produced_by,
        artifact.correlation_id,
        artifact.partition_key,
        data["created_at"],
        micros(artifact.created_at),
        artifact.version,
        _json(data["payload"]),
        _json(sorted(artifact.tags)),
        _json(data["visibility"]),
        _json(data["consumed_from"]),
        _json(data["trace_context"]),
    )


def work_row(record: WorkRecord) -> tuple[Any, ...]:
    """The `WORK_COLUMNS` of `record`."""
    tick = None if record.tick is None else _tick_json(record.tick)
    return (
        record.key,
        record.agent,
        record.subscription,
        _json([str(i) for i in record.input_ids]),
        record.correlation_id,
        record.priority,
        int(record.batched),
        tick,
        record.status,
        record.attempts,
        record.last_error,
        record.lease_owner,
        _iso(record.lease_until),
        _iso(record.retry_at),
    )


def row_work(row: Sequence[Any]) -> WorkRecord:
    """The work record stored in a row of `WORK_COLUMNS`."""
    tick = None if row[7] is None else _json_tick(row[7])
    return WorkRecord(
        key=row[0],
        agent=row[1],
        subscription=row[2],
        input_ids=tuple(UUID(i) for i in cast(list[str], json.loads(row[3]))),
        correlation_id=row[4],
        priority=row[5],
        batched=bool(row[6]),
        tick=tick,
        status=cast(WorkStatus, row[8]),
        attempts=row[9],
        last_error=row[10],
        lease_owner=row[11],
        lease_until=_time(row[12]),
        retry_at=_time(row[13]),
    )


def timer_row(state: TimerState) -> tuple[Any, ...]:
    """The `timers` columns of `state`."""
    return (state.agent, state.number, state.scheduled_at.isoformat())


def row_timer(row: Sequence[Any]) -> TimerState:
    """The timer state stored in a `timers` row."""
    return TimerState(agent=row[0], number=row[1], scheduled_at=datetime.fromisoformat(row[2]))


def expired_join_row(join: ExpiredJoin) -> tuple[Any, ...]:
    """The `expired_joins` columns after `seq`."""
    return (
        join.agent,
        join.subscription,
        join.key,
        _json(list(join.artifact_ids)),
        _json(list(join.types)),
        join.reason,
        join.expired_at.isoformat(),
    )


def row_expired_join(row: Sequence[Any]) -> ExpiredJoin:
    """The expired join stored in an `expired_joins` row (without `seq`)."""
    return ExpiredJoin(
        agent=row[0],
        subscription=row[1],
        key=row[2],
        artifact_ids=tuple(cast(list[str], json.loads(row[3]))),
        types=tuple(cast(list[str], json.loads(row[4]))),
        reason=row[5],
        expired_at=datetime.fromisoformat(row[6]),
    )
