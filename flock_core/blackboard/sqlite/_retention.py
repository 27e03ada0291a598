"""Retention tools of the SQLite store: delete old artifacts, vacuum, export and import one workflow.

Users call them as methods of `SQLiteBlackboardStore` (`delete_before`, `vacuum`, `export_correlation`,
`import_artifacts`); the functions here run on the store's connection, inside its worker thread.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pydantic import ValidationError

from ...exceptions import StoreError
from .._artifacts import Artifact
from ._schema import ARTIFACT_JSON, artifact_row, micros, transaction

__all__ = ["RetentionResult", "delete_before", "export_correlation", "import_artifacts", "vacuum"]

_UNFINISHED_INPUTS = (
    "SELECT inputs.value FROM work_items AS w, json_each(w.input_ids) AS inputs WHERE w.status IN ('pending', 'leased')"
)
_OLD = f"created_us < ? AND id NOT IN ({_UNFINISHED_INPUTS})"
_FINISHED_WITHOUT_INPUTS = """DELETE FROM work_items
    WHERE status IN ('done', 'failed', 'cancelled') AND input_ids != '[]' AND NOT EXISTS (
        SELECT 1 FROM json_each(work_items.input_ids) AS inputs JOIN artifacts ON artifacts.id = inputs.value)"""


@dataclass(frozen=True, slots=True)
class RetentionResult:
    """What `SQLiteBlackboardStore.delete_before` removed, and what it kept.

    Attributes:
        artifacts: artifacts deleted.
        consumptions: consumption records of those artifacts deleted.
        work_items: finished (done, failed or cancelled) work items deleted because none of their inputs is left.
        kept: artifacts old enough to delete but kept because pending or leased work needs them.
    """

    artifacts: int
    consumptions: int
    work_items: int
    kept: int


def delete_before(conn: sqlite3.Connection, before: datetime) -> RetentionResult:
    """Delete artifacts created before `before` in one transaction, keeping the inputs of unfinished work."""
    cutoff = (micros(before),)
    with transaction(conn, write=True):
        old_total = int(conn.execute("SELECT COUNT(*) FROM artifacts WHERE created_us < ?", cutoff).fetchone()[0])
        consumptions = conn.execute(
            f"DELETE FROM consumptions WHERE artifact_id IN (SELECT id FROM artifacts WHERE {_OLD})", cutoff
        ).rowcount
        artifacts = conn.execute(f"DELETE FROM artifacts WHERE {_OLD}", cutoff).rowcount
        work_items = conn.execute(_FINISHED_WITHOUT_INPUTS).rowcount
    return RetentionResult(artifacts, consumptions, work_items, kept=old_total - artifacts)


def vacuum(conn: sqlite3.Connection) -> None:
    """Rebuild the database file, then fold the write-ahead log into it and truncate the log."""
    conn.execute("VACUUM")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def export_correlation(conn: sqlite3.Connection, correlation_id: str, path: str | os.PathLike[str]) -> int:
    """Write the artifacts of one workflow to `path`, one `Artifact` JSON per line, oldest first."""
    rows = conn.execute(
        f"SELECT {ARTIFACT_JSON} FROM artifacts WHERE correlation_id = ? ORDER BY seq", (correlation_id,)
    ).fetchall()
    with Path(path).open("w", encoding="utf-8") as out:
        for (text,) in rows:
            out.write(Artifact.model_validate_json(text).model_dump_json() + "\n")
    return len(rows)


def import_artifacts(conn: sqlite3.Connection, path: str | os.PathLike[str]) -> int:
    """Store the artifacts of a JSON lines file in one transaction; ids already stored are skipped."""
    artifacts: list[Artifact] = []
    with Path(path).open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                artifacts.append(Artifact.model_validate_json(line))
            except ValidationError as exc:
                raise StoreError(f"{os.fspath(path)} line {number} is not an artifact: {exc}") from exc
    insert = f"INSERT OR IGNORE INTO artifacts VALUES (NULL, {', '.join('?' * 13)})"
    with transaction(conn, write=True):
        return sum(conn.execute(insert, artifact_row(a)).rowcount for a in artifacts)
