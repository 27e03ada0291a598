"""The SQLite store's approval requests: held in a commit, decided once, read back in order."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime

from ...exceptions import StoreError
from .._approvals import ApprovalRequest, ApprovalStatus, Decision, decided, request_document, request_from_document

__all__ = ["decide", "hold", "select"]

_COLUMNS = "document, status, decided_by, decided_at, reason"


def hold(conn: sqlite3.Connection, requests: Sequence[ApprovalRequest]) -> None:
    """Store pending requests (inside the caller's transaction)."""
    conn.executemany(
        "INSERT INTO approvals (id, correlation_id, status, document) VALUES (?, ?, 'pending', ?)",
        [(r.id, r.correlation_id, request_document(r)) for r in requests],
    )


def decide(conn: sqlite3.Connection, decision: Decision) -> bool:
    """Apply `decision` if its request is still pending (inside the caller's transaction)."""
    changed = conn.execute(
        "UPDATE approvals SET status = ?, decided_by = ?, decided_at = ?, reason = ? "
        "WHERE id = ? AND status = 'pending'",
        (decision.outcome, decision.by, decision.at.isoformat(), decision.reason, decision.approval_id),
    ).rowcount
    if not changed and conn.execute("SELECT 1 FROM approvals WHERE id = ?", (decision.approval_id,)).fetchone() is None:
        raise StoreError(f"no approval request {decision.approval_id!r} to decide")
    return bool(changed)


def select(
    conn: sqlite3.Connection, status: ApprovalStatus | None, correlation_id: str | None, approval_id: str | None = None
) -> list[ApprovalRequest]:
    """Requests oldest first, filtered by status, workflow and id (`None`: any)."""
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM approvals WHERE (:status IS NULL OR status = :status) "
        "AND (:cid IS NULL OR correlation_id = :cid) AND (:id IS NULL OR id = :id) ORDER BY seq",
        {"status": status, "cid": correlation_id, "id": approval_id},
    ).fetchall()
    return [
        decided(
            request_from_document(row[0]),
            row[1],
            row[2],
            None if row[3] is None else datetime.fromisoformat(row[3]),
            row[4],
        )
        for row in rows
    ]
