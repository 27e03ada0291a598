"""Tenant isolation in PostgreSQL that the code holding a store's connections cannot switch off.

Every artifact row carries the tenant of its visibility's audience in `tenant_id` (computed by the server
from the stored visibility): `NULL` only for public artifacts (visible in every tenant), `''` for the space
of identities without a tenant, else the tenant. Row-level security admits a row when it is public, when
the session has no tenant (an operator), or when its tenant is the session's.

The session's tenant comes first from `tenant_roles`, keyed by `session_user`: a login role mapped to a
tenant (`PostgresBlackboardStore.grant_tenant`) is scoped by the server whatever its code runs
(`set_config`, `RESET`, `SET ROLE`: none changes `session_user`). Only an unmapped login falls back to the
`flock.tenant` setting, which that code could clear: give each tenant's workers their own login role.
"""

from __future__ import annotations

from typing import Any, LiteralString

from psycopg import AsyncConnection, sql

__all__ = ["POLICY", "TENANCY_MIGRATION", "grant_tenant", "mapped_tenant"]

_AUDIENCE = """
CREATE FUNCTION %1$I.flock_audience_tenant(v jsonb) RETURNS text
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE part jsonb; found text;
BEGIN
    CASE v->>'kind'
        WHEN 'public' THEN RETURN NULL;
        WHEN 'tenant' THEN RETURN v->>'tenant_id';
        WHEN 'private', 'labelled' THEN RETURN coalesce(v->>'tenant', '');
        WHEN 'after', 'declassified' THEN RETURN %1$I.flock_audience_tenant(v->'then');
        WHEN 'all' THEN
            FOR part IN SELECT jsonb_array_elements(v->'all_of') LOOP
                found := %1$I.flock_audience_tenant(part);
                IF found IS NOT NULL THEN RETURN found; END IF;
            END LOOP;
            RETURN NULL;
        ELSE RAISE EXCEPTION 'unknown visibility kind %%', v->>'kind';
    END CASE;
END $fn$"""
"""The tenant of a stored visibility (mirrors `audience_tenant` in Python); an unknown kind is an error."""

_SESSION = """
CREATE FUNCTION %1$I.flock_session_tenant() RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
    SELECT coalesce(
        (SELECT tenant FROM %1$I.tenant_roles WHERE role_name = session_user),
        nullif(current_setting('flock.tenant', true), '')
    )
$fn$"""
"""The session's tenant: its login role's mapping, else the `flock.tenant` setting; `NULL` is an operator."""

POLICY: LiteralString = (
    "tenant_id IS NULL OR (SELECT flock_session_tenant()) IS NULL OR tenant_id = (SELECT flock_session_tenant())"
)
"""Row-level security: a row is visible when it is public, the session is an operator, or the tenants match."""


def _in_schema(template: LiteralString) -> LiteralString:
    """A statement run with the schema's name filled in by the server (`%1$I`), inside a `DO` block."""
    body = template.replace("'", "''")
    return f"DO $do$ BEGIN EXECUTE format('{body}', current_schema()); END $do$"


TENANCY_MIGRATION: tuple[LiteralString, ...] = (
    "CREATE TABLE tenant_roles (role_name TEXT PRIMARY KEY, tenant TEXT NOT NULL CHECK (tenant <> ''))",
    "ALTER TABLE tenant_roles ENABLE ROW LEVEL SECURITY",  # not forced: the owner maps roles
    "CREATE POLICY own_mapping ON tenant_roles FOR SELECT USING (role_name = session_user)",
    _in_schema(_AUDIENCE),
    _in_schema(_SESSION),
    "DROP POLICY tenant_isolation ON artifacts",
    "DROP POLICY tenant_isolation ON work_items",
    "ALTER TABLE artifacts DROP COLUMN tenant_id",
    "ALTER TABLE artifacts ADD COLUMN tenant_id TEXT GENERATED ALWAYS AS (flock_audience_tenant(visibility)) STORED",
    "CREATE INDEX artifacts_tenant ON artifacts (tenant_id, seq)",
    "CREATE INDEX artifacts_visibility ON artifacts USING gin (visibility jsonb_path_ops)",
    f"CREATE POLICY tenant_isolation ON artifacts USING ({POLICY}) WITH CHECK ({POLICY})",
    f"CREATE POLICY tenant_isolation ON work_items USING ({POLICY}) WITH CHECK ({POLICY})",
)
"""Migration 2: every row's tenant from the whole visibility, per-tenant login roles, no switch-off."""


async def mapped_tenant(conn: AsyncConnection[Any]) -> str | None:
    """The tenant this connection's login role is mapped to, if any."""
    cursor = await conn.execute("SELECT tenant FROM tenant_roles WHERE role_name = session_user")
    row = await cursor.fetchone()
    return None if row is None else str(row[0])


async def grant_tenant(conn: AsyncConnection[Any], schema: str, role: str, tenant: str) -> None:
    """Let the existing login `role` use the board in `schema`, scoped to `tenant` by the server.

    Run as the schema's owner (the role that migrated it). The role gets the table privileges a store
    needs, never `TRUNCATE` (which would bypass row-level security), and cannot change its mapping.
    """
    names = {"schema": sql.Identifier(schema), "role": sql.Identifier(role)}
    async with conn.transaction():
        for grant in (
            "GRANT USAGE ON SCHEMA {schema} TO {role}",
            "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {role}",
            "REVOKE INSERT, UPDATE, DELETE ON {schema}.tenant_roles FROM {role}",
            "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {role}",
        ):
            await conn.execute(sql.SQL(grant).format(**names))
        await conn.execute(
            sql.SQL(
                "INSERT INTO {schema}.tenant_roles (role_name, tenant) VALUES (%s, %s) "
                "ON CONFLICT (role_name) DO UPDATE SET tenant = excluded.tenant"
            ).format(**names),
            (role, tenant),
        )
