"""The trace file: one SQLite table of finished spans, opened for writing (exporter) or reading (queries).

SQLite rather than DuckDB: it is in the standard library, and in WAL mode one writer and any number of readers
(`flock trace` while a run is exporting) share the file without blocking each other.
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path
from typing import Final

from ..exceptions import ConfigurationError

__all__ = ["APPLICATION_ID", "COLUMNS", "SCHEMA_VERSION", "open_for_reading", "open_for_writing"]

APPLICATION_ID: Final = 0x464C_4B54  # "FLKT": marks a file as a flock trace file
SCHEMA_VERSION: Final = 1

COLUMNS: Final = (
    "trace_id, span_id, parent_id, name, kind, start_ns, end_ns, status, status_message, "
    "attributes, events, links, service_name, scope"
)

_SCHEMA: Final = (
    """CREATE TABLE IF NOT EXISTS spans (
        trace_id TEXT NOT NULL,        -- 32 lowercase hex digits
        span_id TEXT NOT NULL,         -- 16 lowercase hex digits
        parent_id TEXT,                -- the parent's span id, NULL for a root span
        name TEXT NOT NULL,
        kind TEXT NOT NULL,            -- INTERNAL, SERVER, CLIENT, PRODUCER or CONSUMER
        start_ns INTEGER NOT NULL,     -- Unix time in nanoseconds
        end_ns INTEGER NOT NULL,
        status TEXT NOT NULL,          -- UNSET, OK or ERROR
        status_message TEXT,
        attributes TEXT NOT NULL,      -- JSON object
        events TEXT NOT NULL,          -- JSON array of {name, time_ns, attributes}
        links TEXT NOT NULL,           -- JSON array of {trace_id, span_id, attributes}
        service_name TEXT,             -- the resource's service.name
        scope TEXT,                    -- the instrumentation scope (tracer) name
        PRIMARY KEY (trace_id, span_id)
    ) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS spans_start ON spans (start_ns)",
)
_BUSY_TIMEOUT_MS: Final = 10_000
_WAL_ATTEMPTS: Final = 100


def open_for_writing(path: str | os.PathLike[str]) -> sqlite3.Connection:
    """Open (creating if needed) a trace file for the exporter; the connection may be used from any thread.

    Raises:
        ConfigurationError: the file is another SQLite database (it is left untouched), or a newer trace file.
    """
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA synchronous = NORMAL")
        _create_or_check(conn, path)
        _use_wal(conn)
    except BaseException:
        conn.close()
        raise
    return conn


def _create_or_check(conn: sqlite3.Connection, path: str | os.PathLike[str]) -> None:
    application_id, version = _identity(conn)
    if (application_id, version) == (0, 0):
        conn.execute("BEGIN IMMEDIATE")  # one creator at a time; look again once we hold the write lock
        try:
            application_id, version = _identity(conn)
            empty = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0
            if (application_id, version) == (0, 0) and empty:
                for statement in _SCHEMA:
                    conn.execute(statement)
                conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                application_id, version = APPLICATION_ID, SCHEMA_VERSION
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    _check(path, application_id, version)


def _use_wal(conn: sqlite3.Connection) -> None:
    """Switch to WAL (persistent, so only the first writer does it); the switch can be refused while another
    connection is busy, without waiting for the busy timeout, so it is retried for a while."""
    for attempt in range(_WAL_ATTEMPTS):
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or attempt == _WAL_ATTEMPTS - 1:
                raise
            time.sleep(0.05)


def open_for_reading(path: str | os.PathLike[str]) -> sqlite3.Connection:
    """Open an existing trace file read-only.

    Raises:
        FileNotFoundError: there is no file at `path`.
        ConfigurationError: the file is not a flock trace file, or was written by a newer version.
    """
    resolved = Path(path).resolve()
    if not resolved.is_file():
        raise FileNotFoundError(f"no trace file at {os.fspath(path)}")
    conn = sqlite3.connect(f"{resolved.as_uri()}?mode=ro", uri=True, check_same_thread=False)
    try:
        conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        _check(path, *_identity(conn))
    except sqlite3.DatabaseError as error:
        conn.close()
        raise ConfigurationError(f"{os.fspath(path)} is not a flock trace file ({error})") from error
    except BaseException:
        conn.close()
        raise
    return conn


def _identity(conn: sqlite3.Connection) -> tuple[int, int]:
    """The application id and schema version, read together (two PRAGMA statements could straddle a commit)."""
    row = conn.execute("SELECT * FROM pragma_application_id(), pragma_user_version()").fetchone()
    return int(row[0]), int(row[1])


def _check(path: str | os.PathLike[str], application_id: int, version: int) -> None:
    if application_id != APPLICATION_ID:
        raise ConfigurationError(f"{os.fspath(path)} is not a flock trace file")
    if version > SCHEMA_VERSION:
        raise ConfigurationError(
            f"{os.fspath(path)} uses trace file schema {version}; this version of flockboard reads up to "
            f"{SCHEMA_VERSION}: upgrade flockboard"
        )
