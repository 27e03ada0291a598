"""Tenant isolation that code on a tenant store's connections cannot switch off, tested as non-superusers."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any, LiteralString

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from flock_core import (
    AfterVisibility,
    Artifact,
    ArtifactQuery,
    Budget,
    ComposedVisibility,
    DeclassifiedVisibility,
    LabelledVisibility,
    PrivateVisibility,
    PublicVisibility,
    TenantVisibility,
    Visibility,
)
from flock_core._clock import utcnow
from flock_core._usage import Usage
from flock_core.blackboard._approvals import ApprovalRequest, Decision
from flock_core.blackboard._visibility import audience_tenant
from flock_core.blackboard._work import Commit, WorkRecord
from flock_core.blackboard.postgres._store import PostgresBlackboardStore
from flock_core.exceptions import StoreError

from ...conftest import PG_DSN

pytestmark = pytest.mark.anyio

ACME, GLOBEX = TenantVisibility(tenant_id="acme"), TenantVisibility(tenant_id="globex")
ROWS: dict[str, Visibility] = {
    "public": PublicVisibility(),
    "acme": ACME,
    "globex": GLOBEX,
    "globex-private": PrivateVisibility(agents=frozenset({"bob"}), tenant="globex"),
    "globex-labelled": LabelledVisibility(required_labels=frozenset({"x"}), tenant="globex"),
    "globex-later": AfterVisibility(ttl=timedelta(0), then=GLOBEX),
    "globex-composed": ComposedVisibility(all_of=(AfterVisibility(ttl=timedelta(0)), GLOBEX)),
    "globex-declassified": DeclassifiedVisibility(name="n", then=GLOBEX),
    "untenanted-private": PrivateVisibility(agents=frozenset({"ops"})),
}


def artifact(name: str) -> Artifact:
    return Artifact(type="Note", payload={"text": name}, correlation_id="c", visibility=ROWS[name])


def admin_execute(statement: sql.Composed) -> None:
    with psycopg.connect(PG_DSN, autocommit=True) as admin:
        admin.execute(statement)


@pytest.fixture
def login_role(pg_schema: str) -> Iterator[str]:
    """A login role that is not a superuser and does not bypass row-level security (dropped after)."""
    role = f"flock_tenant_{uuid.uuid4().hex[:8]}"
    admin_execute(sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEROLE").format(sql.Identifier(role)))
    yield role
    admin_execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(pg_schema)))
    admin_execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
    admin_execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


@pytest.fixture
async def boards(
    pg_schema: str, login_role: str
) -> AsyncIterator[tuple[PostgresBlackboardStore, PostgresBlackboardStore]]:
    """The operator's store with every row, and acme's store logging in as `login_role`."""
    operator = PostgresBlackboardStore(PG_DSN, schema=pg_schema)
    acme = PostgresBlackboardStore(make_conninfo(PG_DSN, user=login_role), schema=pg_schema, tenant="acme")
    try:
        for name in ROWS:
            await operator.append(artifact(name))
        inputs = {a.payload["text"]: a for a in (await operator.query(ArtifactQuery())).items}
        work = [WorkRecord(f"on-{n}", "writer", 0, (a.id,), "c") for n, a in inputs.items()]
        await operator.commit(Commit(enqueue=tuple(work)))
        await operator.grant_tenant(login_role, "acme")
        yield operator, acme
    finally:
        await acme.close()
        await operator.close()


def stored_tenant(visibility: Visibility) -> str | None:
    """What `tenant_id` must hold: `NULL` for every tenant, `''` for none, else the tenant."""
    every_tenant, tenant = audience_tenant(visibility)
    return None if every_tenant else (tenant or "")


def test_the_server_computes_every_rows_tenant_as_python_does(pg_schema: str) -> None:
    import anyio

    async def stored() -> dict[str, Any]:
        store = PostgresBlackboardStore(PG_DSN, schema=pg_schema)
        try:
            for name in ROWS:
                await store.append(artifact(name))
            rows = await store._fetch("SELECT payload->>'text', tenant_id FROM artifacts")  # pyright: ignore[reportPrivateUsage]
        finally:
            await store.close()
        return dict(rows)

    expected = {name: stored_tenant(visibility) for name, visibility in ROWS.items()}
    assert anyio.run(stored) == expected
    admin_execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(pg_schema)))


async def test_a_tenant_login_sees_its_rows_and_public_ones(boards: tuple[PostgresBlackboardStore, ...]) -> None:
    _, acme = boards
    assert sorted(a.payload["text"] for a in (await acme.query(ArtifactQuery())).items) == ["acme", "public"]
    assert sorted(r.key for r in await acme.work()) == ["on-acme", "on-public"]


ATTEMPTS: list[LiteralString] = [
    "RESET ALL",
    "SET ROLE NONE",
    "RESET SESSION AUTHORIZATION",
    "SELECT set_config('flock.tenant', '', false)",
    "SELECT set_config('flock.tenant', 'globex', false)",
]


async def test_raw_sql_on_a_tenant_stores_connection_cannot_read_other_tenants(
    boards: tuple[PostgresBlackboardStore, ...], login_role: str
) -> None:
    _, acme = boards
    db = await acme._open()  # pyright: ignore[reportPrivateUsage]
    async with db.connection() as conn:
        for attempt in ATTEMPTS:
            await conn.execute(attempt)
        cursor = await conn.execute(
            "SELECT session_user, current_user, current_setting('flock.tenant', true), "
            "(SELECT count(*) FROM artifacts), (SELECT count(*) FROM artifacts WHERE tenant_id IS DISTINCT FROM 'acme' "
            "AND tenant_id IS NOT NULL), (SELECT count(*) FROM work_items WHERE tenant_id <> 'acme')"
        )
        assert await cursor.fetchall() == [(login_role, login_role, "globex", 2, 0, 0)]
        own_row = sql.SQL("UPDATE tenant_roles SET tenant = 'globex' WHERE role_name = {}").format(login_role)
        for forbidden in (
            sql.SQL("SET ROLE postgres"),
            sql.SQL("INSERT INTO tenant_roles VALUES ('x', 'globex')"),
            own_row,
            sql.SQL("TRUNCATE artifacts"),
            sql.SQL("ALTER TABLE artifacts DISABLE ROW LEVEL SECURITY"),
            sql.SQL("DROP POLICY tenant_isolation ON artifacts"),
            sql.SQL("DELETE FROM tenant_roles"),
        ):
            with pytest.raises(psycopg.Error):
                async with conn.transaction():
                    await conn.execute(forbidden)
        mapping = await conn.execute("SELECT role_name, tenant FROM tenant_roles")
        assert await mapping.fetchall() == [(login_role, "acme")]  # its own mapping only, unchanged


async def test_a_tenant_login_cannot_write_into_another_tenant(boards: tuple[PostgresBlackboardStore, ...]) -> None:
    _, acme = boards
    with pytest.raises(StoreError, match="tenant scope of this store"):
        await acme.append(artifact("globex-private"))
    await acme.append(artifact("public"))  # its own rows and public ones are fine


async def test_a_tenant_cannot_publish_into_another_tenant_even_in_a_group(
    boards: tuple[PostgresBlackboardStore, ...],
) -> None:
    operator, acme = boards
    foreign, own = artifact("globex-private"), artifact("acme")
    results = await asyncio.gather(
        acme.commit(Commit(artifacts=(foreign,))), acme.commit(Commit(artifacts=(own,))), return_exceptions=True
    )
    assert isinstance(results[0], StoreError)
    assert "tenant scope of this store" in str(results[0])
    assert results[1] is True
    assert await operator.get(foreign.id) is None
    assert await operator.get(own.id) == own


async def test_a_mapped_login_must_be_opened_with_its_tenant(
    boards: tuple[PostgresBlackboardStore, ...], pg_schema: str, login_role: str
) -> None:
    dsn = make_conninfo(PG_DSN, user=login_role)
    for tenant in (None, "globex"):
        store = PostgresBlackboardStore(dsn, schema=pg_schema, tenant=tenant)
        with pytest.raises(StoreError, match="the login role is scoped to tenant 'acme'"):
            await store.query(ArtifactQuery())
        await store.close()
    assert str(conninfo_to_dict(dsn)["user"]) == login_role


async def test_a_tenant_cancels_and_pauses_only_its_own_workflow(
    boards: tuple[PostgresBlackboardStore, PostgresBlackboardStore],
) -> None:
    operator, acme = boards  # every row of `ROWS` has a work item in the workflow "c"
    cancelled = await acme.cancel_workflow("c", "acme stops")
    assert [r.key for r in cancelled] == ["on-acme"]
    statuses = {r.key: r.status for r in await operator.work()}
    assert statuses["on-acme"] == "cancelled"
    assert statuses["on-globex"] == statuses["on-public"] == "pending"  # another tenant's "c" runs on
    inputs = {a.payload["text"]: a for a in (await operator.query(ArtifactQuery())).items}
    later = [WorkRecord(f"later-{n}", "writer", 0, (inputs[n].id,), "c") for n in ("acme", "globex")]
    await operator.commit(Commit(enqueue=tuple(later)))
    statuses = {r.key: r.status for r in await operator.work()}
    assert (statuses["later-acme"], statuses["later-globex"]) == ("cancelled", "pending")

    await acme.pause_workflow(None, True)  # acme's whole board: globex's work is still claimed
    claimed = await operator.claim("w", limit=20, agents=None, lease_until=utcnow() + timedelta(minutes=1))
    assert "on-globex" in {r.key for r in claimed}
    await operator.pause_workflow("c", True)
    await acme.pause_workflow("c", False)  # cannot lift the operator's pause
    assert "c" in await operator.paused_workflows()


async def test_a_tenant_cannot_write_a_control_for_every_tenant(
    boards: tuple[PostgresBlackboardStore, PostgresBlackboardStore],
) -> None:
    operator, acme = boards
    await operator.pause_workflow("c", True)
    db = await acme._open()  # pyright: ignore[reportPrivateUsage]
    async with db.connection() as conn:
        for forbidden in (
            "INSERT INTO cancelled_workflows (correlation_id, reason, tenant_id) VALUES ('c', 'x', NULL)",
            "INSERT INTO paused_workflows (correlation_id, tenant_id) VALUES ('*', 'globex')",
        ):
            with pytest.raises(psycopg.Error):
                async with conn.transaction():
                    await conn.execute(forbidden)  # pyright: ignore[reportArgumentType]
        async with conn.transaction():
            deleted = await conn.execute("DELETE FROM paused_workflows RETURNING 1")
            assert await deleted.fetchall() == []
    assert await operator.paused_workflows() == frozenset({"c"})


async def test_a_tenant_sees_only_its_own_approval_requests(
    boards: tuple[PostgresBlackboardStore, PostgresBlackboardStore],
) -> None:
    operator, acme = boards
    held = [
        ApprovalRequest(name, "writer", "c", f"on-{name}", (artifact(name),), frozenset({"editor"}), utcnow())
        for name in ("acme", "globex", "public")
    ]
    await operator.commit(Commit(hold=tuple(held)))
    assert [r.agent for r in await operator.approvals()] == ["writer"] * 3
    assert sorted(r.id for r in await acme.approvals()) == ["acme", "public"]
    assert await acme.approval("globex") is None
    decision = Decision("globex", "approved", "editor", utcnow())
    with pytest.raises(StoreError, match="no approval request"):  # it does not exist for acme
        await acme.commit(Commit(decide=decision))
    assert (await operator.approval("globex")).status == "pending"  # type: ignore[union-attr]


async def test_a_tenant_reads_and_spends_only_its_own_budgets(
    boards: tuple[PostgresBlackboardStore, PostgresBlackboardStore],
) -> None:
    operator, acme = boards
    now = utcnow()
    await operator.save_budget("c", Budget(max_calls=10), now)  # the operator's workflow "c"
    await acme.save_budget("c", Budget(max_calls=3), now)  # acme's own workflow with the same id
    await acme.add_spending("c", Usage(input_tokens=5, output_tokens=1, calls=1))

    mine = await acme.workflow_budget("c")
    theirs = await operator.workflow_budget("c")
    assert mine is not None
    assert theirs is not None
    assert (mine.budget.max_calls, mine.spent.calls) == (3, 1)
    assert (theirs.budget.max_calls, theirs.spent.calls) == (10, 0), "acme spent only its own"
    assert set(await acme.workflow_budgets()) == {"c"}
    db = await acme._open()  # pyright: ignore[reportPrivateUsage]
    async with db.connection() as conn:  # raw SQL on acme's connection
        rows = await (await conn.execute("SELECT tenant_id, budget FROM workflow_budgets")).fetchall()
        assert [row[0] for row in rows] == ["acme"], "the operator's row is invisible to a tenant"
        async with conn.transaction():
            changed = await conn.execute("UPDATE workflow_budgets SET calls = 0 WHERE tenant_id IS NULL RETURNING 1")
            assert await changed.fetchall() == []
        with pytest.raises(psycopg.Error):
            async with conn.transaction():
                await conn.execute(
                    "INSERT INTO workflow_budgets (correlation_id, budget, started_at, tenant_id) "
                    "VALUES ('x', '{}'::jsonb, now(), 'globex')"
                )
