"""The PostgreSQL store's approval requests, and the tenant of its workflow controls.

Migration 4 adds the `approvals` table and makes the cancelled and paused workflow tables carry the
tenant like every other row: a row holds the tenant of the session that wrote it (`NULL`: an operator,
whose cancellation or pause applies in every tenant). A tenant's session reads its own rows and the
operator's, writes and deletes only its own, and its cancellation or pause applies to its own work only.
An approval request's tenant is the tenant of the outputs it holds (as for artifacts).
"""

from __future__ import annotations

from typing import Any, LiteralString

from psycopg import AsyncConnection

from ...exceptions import StoreError
from .._approvals import ApprovalRequest, ApprovalStatus, Decision, decided, request_document, request_from_document
from ._tenancy import POLICY

__all__ = ["APPROVALS_MIGRATION", "decide", "hold", "select"]

_SESSIONS_OWN: LiteralString = "tenant_id IS NOT DISTINCT FROM flock_session_tenant()"
"""A row written by the session: its tenant's (`NULL` for an operator), never another's or every tenant's."""
_OWN: LiteralString = "(SELECT flock_session_tenant()) IS NULL OR tenant_id = (SELECT flock_session_tenant())"
"""A row the session may write or delete: its own tenant's, or any for an operator."""


def _controls(table: LiteralString) -> tuple[LiteralString, ...]:
    return (
        f"ALTER TABLE {table} ADD COLUMN tenant_id TEXT DEFAULT flock_session_tenant()",
        f"ALTER TABLE {table} DROP CONSTRAINT {table}_pkey",
        f"CREATE UNIQUE INDEX {table}_tenant ON {table} ((coalesce(tenant_id, '')), correlation_id)",
        f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
        f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY",
        f"CREATE POLICY tenant_reads ON {table} FOR SELECT USING ({POLICY})",
        f"CREATE POLICY tenant_inserts ON {table} FOR INSERT WITH CHECK ({_SESSIONS_OWN})",
        f"CREATE POLICY tenant_deletes ON {table} FOR DELETE USING ({_OWN})",
    )


APPROVALS_MIGRATION: tuple[LiteralString, ...] = (
    *_controls("cancelled_workflows"),
    *_controls("paused_workflows"),
    """CREATE TABLE approvals (
        seq BIGSERIAL PRIMARY KEY, id TEXT NOT NULL UNIQUE, correlation_id TEXT NOT NULL, status TEXT NOT NULL
        CHECK (status IN ('pending', 'approved', 'rejected')), document JSONB NOT NULL, decided_by TEXT,
        decided_at TIMESTAMPTZ, reason TEXT, tenant_id TEXT
    )""",
    "CREATE INDEX approvals_status ON approvals (status, seq)",
    "ALTER TABLE approvals ENABLE ROW LEVEL SECURITY",
    "ALTER TABLE approvals FORCE ROW LEVEL SECURITY",
    f"CREATE POLICY tenant_isolation ON approvals USING ({POLICY}) WITH CHECK ({POLICY})",
)
"""Migration 4: approval requests; cancelled and paused workflows carry their tenant."""

_HOLD: LiteralString = """
INSERT INTO approvals (id, correlation_id, status, document, tenant_id)
SELECT r.id, r.correlation_id, 'pending', r.document,
       (SELECT max(flock_audience_tenant(a->'visibility')) FROM jsonb_array_elements(r.document->'artifacts') a)
FROM unnest(%s::text[], %s::text[], %s::jsonb[]) AS r(id, correlation_id, document)"""

_DECIDE: LiteralString = """
UPDATE approvals SET status = %s, decided_by = %s, decided_at = %s, reason = %s
WHERE id = %s AND status = 'pending' RETURNING 1"""

_SELECT: LiteralString = """
SELECT document, status, decided_by, decided_at, reason FROM approvals
WHERE (%(status)s::text IS NULL OR status = %(status)s) AND (%(cid)s::text IS NULL OR correlation_id = %(cid)s)
  AND (%(id)s::text IS NULL OR id = %(id)s)
ORDER BY seq"""


async def hold(conn: AsyncConnection[Any], requests: tuple[ApprovalRequest, ...]) -> None:
    """Store pending requests (inside the caller's transaction)."""
    if requests:
        columns = (
            [r.id for r in requests],
            [r.correlation_id for r in requests],
            [request_document(r) for r in requests],
        )
        await conn.execute(_HOLD, columns)


async def decide(conn: AsyncConnection[Any], decision: Decision) -> bool:
    """Apply `decision` if its request is still pending (locks the row; inside the caller's transaction)."""
    params = (decision.outcome, decision.by, decision.at, decision.reason, decision.approval_id)
    if await (await conn.execute(_DECIDE, params)).fetchone() is not None:
        return True
    found = await conn.execute("SELECT 1 FROM approvals WHERE id = %s", (decision.approval_id,))
    if await found.fetchone() is None:
        raise StoreError(f"no approval request {decision.approval_id!r} to decide")
    return False


async def select(
    conn: AsyncConnection[Any], status: ApprovalStatus | None, correlation_id: str | None, approval_id: str | None
) -> list[ApprovalRequest]:
    """Requests oldest first, filtered by status, workflow and id (`None`: any)."""
    cursor = await conn.execute(_SELECT, {"status": status, "cid": correlation_id, "id": approval_id})
    return [decided(request_from_document(r[0]), r[1], r[2], r[3], r[4]) for r in await cursor.fetchall()]
