"""Applying the schema's migrations: once, in order, safely when many processes start together.

Every process migrates on first use; a cluster-wide advisory lock makes concurrent starts safe.
"""

from __future__ import annotations

from typing import Any, LiteralString

from psycopg import AsyncConnection, sql

from ...exceptions import StoreError
from ._ddl import MIGRATIONS, TENANT_ROLE
from ._names import advisory_key

__all__ = ["migrate"]

_MIGRATE_KEY = "flock_core:migrate"


async def migrate(
    conn: AsyncConnection[Any], schema: str, migrations: tuple[tuple[LiteralString, ...], ...] = MIGRATIONS
) -> int:
    """Create `schema` if needed and apply the migrations it has not seen yet; returns the schema version."""
    target = len(migrations)
    if await _version(conn, schema) == target:
        return target
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (advisory_key(_MIGRATE_KEY),))
        name = sql.Identifier(schema)
        await conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(name))
        await conn.execute(
            sql.SQL("CREATE TABLE IF NOT EXISTS {}.schema_version (version INTEGER NOT NULL)").format(name)
        )
        version = await _version(conn, schema)
        if version > target:
            raise StoreError(f"schema {schema!r} has version {version}, newer than this flock_core ({target})")
        await conn.execute(sql.SQL("SET LOCAL search_path = {}").format(name))
        for number in range(version + 1, target + 1):
            for statement in migrations[number - 1]:
                await conn.execute(statement)
        await conn.execute("DELETE FROM schema_version")
        await conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (target,))
        await _grant_tenant_role(conn, schema)
    return target


async def _version(conn: AsyncConnection[Any], schema: str) -> int:
    cursor = await conn.execute("SELECT to_regclass(%s) IS NOT NULL", (f'"{schema}".schema_version',))
    if not (await cursor.fetchone() or (False,))[0]:
        return 0
    versions = sql.SQL("SELECT coalesce(max(version), 0) FROM {}.schema_version").format(sql.Identifier(schema))
    return int((await (await conn.execute(versions)).fetchone() or (0,))[0])


async def _grant_tenant_role(conn: AsyncConnection[Any], schema: str) -> None:
    """Create `flock_tenant` (if this login may) and let it use the schema, under row-level security."""
    cursor = await conn.execute(
        "SELECT r.rolsuper OR r.rolcreaterole, EXISTS (SELECT 1 FROM pg_roles WHERE rolname = %s) "
        "FROM pg_roles r WHERE r.rolname = current_user",
        (TENANT_ROLE,),
    )
    row = await cursor.fetchone()
    may_create, exists = (False, False) if row is None else (bool(row[0]), bool(row[1]))
    if not exists and may_create:
        await conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN NOBYPASSRLS").format(sql.Identifier(TENANT_ROLE)))
    if exists or may_create:
        names = {"schema": sql.Identifier(schema), "role": sql.Identifier(TENANT_ROLE)}
        for grant in (
            "GRANT USAGE ON SCHEMA {schema} TO {role}",
            "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {role}",
            "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {role}",
        ):
            await conn.execute(sql.SQL(grant).format(**names))
