"""Opening a store's connections: migrate the schema, then scope every session to the store's tenant.

A tenant-scoped store sets `flock.tenant` (and, when its login role bypasses row-level security, the
role `flock_tenant`) as connection startup options, so every connection of the store is scoped from its
first statement and `RESET` returns to the scoped values. That setting is only the fallback for a login
role that is not mapped to a tenant: `_tenancy` maps login roles to tenants, which code on the connection
cannot undo.
"""

from __future__ import annotations

import logging

import psycopg

from ...exceptions import StoreError
from ._ddl import TENANT_ROLE
from ._dsn import conninfo
from ._migrate import migrate
from ._pool import Connections, close_quietly
from ._tenancy import mapped_tenant

__all__ = ["open_connections"]

_log = logging.getLogger("flock_core.postgres")


async def open_connections(dsn: str, schema: str, tenant: str | None, size: int) -> Connections:
    """Migrate `schema`, then the pool of a store (scoped to `tenant`, enforced by the server, if given).

    A tenant-scoped pool sets `flock.tenant`; if the login role bypasses row-level security (a
    superuser, say), it also switches to `flock_tenant`, and fails when it cannot: isolation is never
    silently off.
    """
    label = f"PostgreSQL store {schema!r}"
    setup = await Connections(conninfo(dsn, schema, {}), 1, label).connect()
    try:
        await migrate(setup, schema)
        cursor = await setup.execute(
            "SELECT rolsuper OR rolbypassrls, coalesce((SELECT pg_has_role(current_user, oid, 'MEMBER') "
            "FROM pg_roles WHERE rolname = %s), false) FROM pg_roles WHERE rolname = current_user",
            (TENANT_ROLE,),
        )
        bypasses, may_switch = await cursor.fetchone() or (True, False)
        mapped = await mapped_tenant(setup)
    except psycopg.Error as exc:
        raise StoreError(f"{label}: cannot migrate: {exc}") from exc
    finally:
        await close_quietly(setup)
    settings: dict[str, str] = {}
    if mapped is not None and mapped != tenant:
        raise StoreError(
            f"{label}: the login role is scoped to tenant {mapped!r}; open the store with tenant={mapped!r}"
        )
    if tenant is not None and mapped is None:  # an unmapped login: scoped by a setting its own code could clear
        _log.warning(
            "%s: tenant %r is scoped by the flock.tenant setting of an unmapped login role, which code on these "
            "connections could clear; map a login role to the tenant with store.grant_tenant()",
            label,
            tenant,
        )
        settings["flock.tenant"] = tenant
        if bypasses and not may_switch:
            raise StoreError(
                f"{label}: tenant isolation needs the role {TENANT_ROLE!r} (created by a superuser's first "
                "migration) or a login role without BYPASSRLS"
            )
        if bypasses:
            settings["role"] = TENANT_ROLE
    return Connections(conninfo(dsn, schema, settings), size, label)
