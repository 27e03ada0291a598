"""The PostgreSQL store's schema: its tables, indexes and row-level security, as ordered migrations.

The schema version lives in the table `schema_version` of the store's schema: migration `n` (1-based) of
`MIGRATIONS` brings version `n - 1` to `n`. A new version appends one step and never edits an old one
(`_migrate` applies them).

Tenant isolation is enforced by the server: `artifacts` and `work_items` have row-level security (forced,
so it binds the tables' owner too) that hides rows scoped to a tenant other than the session's
`flock.tenant` setting (`TENANT_ONLY`). How a store scopes its sessions is in `_connect`.
"""

from __future__ import annotations

from typing import LiteralString

from ._approvals import APPROVALS_MIGRATION
from ._tenancy import TENANCY_MIGRATION

__all__ = ["MIGRATIONS", "TENANT_ONLY", "TENANT_ROLE"]

TENANT_ROLE = "flock_tenant"
"""The role a tenant-scoped store switches to when its login role would bypass row-level security."""

TENANT_ONLY = "tenant_id IS NULL OR coalesce(current_setting('flock.tenant', true), '') IN ('', tenant_id)"
"""Row-level security: a row scoped to a tenant is visible only when the session has no tenant, or that one."""

MIGRATIONS: tuple[tuple[LiteralString, ...], ...] = (
    # 1: the initial schema.
    (
        """CREATE TABLE artifacts (
            seq BIGSERIAL PRIMARY KEY, id UUID NOT NULL UNIQUE, type TEXT NOT NULL, produced_by TEXT NOT NULL,
            correlation_id TEXT NOT NULL, partition_key TEXT, tags TEXT[] NOT NULL, visibility JSONB NOT NULL,
            visibility_kind TEXT GENERATED ALWAYS AS (visibility ->> 'kind') STORED,
            tenant_id TEXT GENERATED ALWAYS AS (
                jsonb_path_query_first(visibility, 'strict $.**?(@.kind == "tenant").tenant_id') #>> '{}'
            ) STORED,
            created_at TIMESTAMPTZ NOT NULL, version INTEGER NOT NULL, payload JSONB NOT NULL,
            consumed_from UUID[] NOT NULL, trace_context JSONB NOT NULL
        )""",
        "CREATE INDEX artifacts_type ON artifacts (type, seq)",
        "CREATE INDEX artifacts_correlation ON artifacts (correlation_id, seq)",
        "CREATE INDEX artifacts_producer ON artifacts (produced_by, seq)",
        "CREATE INDEX artifacts_created ON artifacts (created_at)",
        "CREATE TABLE consumptions (agent TEXT NOT NULL, artifact_id UUID NOT NULL, PRIMARY KEY (agent, artifact_id))",
        "CREATE INDEX consumptions_artifact ON consumptions (artifact_id)",
        """CREATE TABLE work_items (
            seq BIGSERIAL PRIMARY KEY, key TEXT NOT NULL UNIQUE, agent TEXT NOT NULL, subscription INTEGER NOT NULL,
            input_ids UUID[] NOT NULL, correlation_id TEXT NOT NULL, priority INTEGER NOT NULL,
            batched BOOLEAN NOT NULL, tick_number INTEGER, tick_at TIMESTAMPTZ,
            status TEXT NOT NULL CHECK (status IN ('pending', 'leased', 'done', 'failed')),
            attempts INTEGER NOT NULL, last_error TEXT, lease_owner TEXT, lease_until TIMESTAMPTZ, tenant_id TEXT
        )""",
        "CREATE INDEX work_items_claim ON work_items (priority DESC, seq) WHERE status IN ('pending', 'leased')",
        "CREATE INDEX work_items_status ON work_items (status, seq)",
        """CREATE TABLE timers (
            seq BIGSERIAL PRIMARY KEY, agent TEXT NOT NULL UNIQUE, number INTEGER NOT NULL,
            scheduled_at TIMESTAMPTZ NOT NULL
        )""",
        """CREATE TABLE expired_joins (
            seq BIGSERIAL PRIMARY KEY, agent TEXT NOT NULL, subscription INTEGER NOT NULL, join_key TEXT NOT NULL,
            artifact_ids TEXT[] NOT NULL, types TEXT[] NOT NULL, reason TEXT NOT NULL, expired_at TIMESTAMPTZ NOT NULL
        )""",
        "CREATE TABLE fingerprints (agent TEXT PRIMARY KEY, fingerprint TEXT NOT NULL)",
        """CREATE TABLE router_state (
            id INTEGER PRIMARY KEY CHECK (id = 1), routed_seq BIGINT NOT NULL DEFAULT 0, leader TEXT,
            open_groups INTEGER NOT NULL DEFAULT 0, delayed INTEGER NOT NULL DEFAULT 0
        )""",
        "INSERT INTO router_state (id) VALUES (1)",
        "ALTER TABLE artifacts ENABLE ROW LEVEL SECURITY",
        "ALTER TABLE artifacts FORCE ROW LEVEL SECURITY",
        f"CREATE POLICY tenant_isolation ON artifacts USING ({TENANT_ONLY}) WITH CHECK ({TENANT_ONLY})",
        "ALTER TABLE work_items ENABLE ROW LEVEL SECURITY",
        "ALTER TABLE work_items FORCE ROW LEVEL SECURITY",
        f"CREATE POLICY tenant_isolation ON work_items USING ({TENANT_ONLY}) WITH CHECK ({TENANT_ONLY})",
    ),
    # 2: every row's tenant from its whole visibility; per-tenant login roles (see `_tenancy`).
    TENANCY_MIGRATION,
    # 3: cancelled workflows (their work items get the status 'cancelled') and paused ones.
    (
        "ALTER TABLE work_items DROP CONSTRAINT work_items_status_check",
        "ALTER TABLE work_items ADD CONSTRAINT work_items_status_check "
        "CHECK (status IN ('pending', 'leased', 'done', 'failed', 'cancelled'))",
        "CREATE TABLE cancelled_workflows (correlation_id TEXT PRIMARY KEY, reason TEXT NOT NULL)",
        "CREATE TABLE paused_workflows (correlation_id TEXT PRIMARY KEY)",  # '*': the whole board
    ),
    # 4: outputs held for approval; cancelled and paused workflows carry their tenant (see `_approvals`).
    APPROVALS_MIGRATION,
    # 5: retries: a pending work item whose last attempt failed is not claimed before `retry_at`.
    ("ALTER TABLE work_items ADD COLUMN retry_at TIMESTAMPTZ",),
    # 6: workflows' budgets (limits as JSON) and what they spent, so a budget holds across a restart.
    (
        """CREATE TABLE workflow_budgets (
            correlation_id TEXT PRIMARY KEY, budget JSONB NOT NULL, started_at TIMESTAMPTZ NOT NULL,
            calls BIGINT NOT NULL DEFAULT 0, input_tokens BIGINT NOT NULL DEFAULT 0,
            output_tokens BIGINT NOT NULL DEFAULT 0, cost DOUBLE PRECISION NOT NULL DEFAULT 0
        )""",
    ),
    # 7: a budget row carries the tenant of the session that set it; a tenant reads and writes only its own.
    (
        "ALTER TABLE workflow_budgets ADD COLUMN tenant_id TEXT DEFAULT flock_session_tenant()",
        "ALTER TABLE workflow_budgets DROP CONSTRAINT workflow_budgets_pkey",
        "CREATE UNIQUE INDEX workflow_budgets_tenant ON workflow_budgets ((coalesce(tenant_id, '')), correlation_id)",
        "ALTER TABLE workflow_budgets ENABLE ROW LEVEL SECURITY",
        "ALTER TABLE workflow_budgets FORCE ROW LEVEL SECURITY",
        "CREATE POLICY tenant_own ON workflow_budgets "
        "USING ((SELECT flock_session_tenant()) IS NULL OR tenant_id = (SELECT flock_session_tenant())) "
        "WITH CHECK (tenant_id IS NOT DISTINCT FROM flock_session_tenant())",
    ),
)
"""Schema migrations in order; each step is a list of statements applied in one transaction."""
