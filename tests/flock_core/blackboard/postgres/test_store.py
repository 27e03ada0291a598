"""What only the PostgreSQL store does: migrations, the shared work queue, the router lock, NOTIFY wake-ups,
tenant isolation by row-level security, and the distributed scenarios of `test_distributed.py`.

The behaviour it shares with every backend is in the contract suite, `test_store.py`.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, LiteralString

import anyio
import psycopg
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from pydantic import BaseModel

from flock_core import (
    AfterVisibility,
    AgentIdentity,
    Artifact,
    ArtifactCount,
    ArtifactQuery,
    EvaluationRequest,
    Flock,
    PrivateVisibility,
    TenantVisibility,
)
from flock_core.blackboard._shared import BoardState, Renewal, SharedQueueStore, shared_store
from flock_core.blackboard._work import Commit, WorkRecord
from flock_core.blackboard.postgres._ddl import MIGRATIONS
from flock_core.blackboard.postgres._migrate import migrate
from flock_core.blackboard.postgres._store import PostgresBlackboardStore
from flock_core.exceptions import ConfigurationError, StoreError
from flock_core.orchestration._router import SharedBoard
from flock_core.testing import FunctionEngine

from ...conftest import PG_DSN
from ...orchestration.test_distributed import Done, Job, Order, Part, Payment, Shipment, declare

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]

T0 = datetime(2026, 1, 1, tzinfo=UTC)
FUTURE = datetime(2100, 1, 1, tzinfo=UTC)
PAST = datetime(2000, 1, 1, tzinfo=UTC)


def note(text: str, **fields: Any) -> Artifact:
    fields.setdefault("correlation_id", "c1")
    return Artifact(type="Note", payload={"text": text}, created_at=T0, **fields)


def item(key: str, *inputs: Artifact, agent: str = "writer", priority: int = 0) -> WorkRecord:
    return WorkRecord(
        key=key,
        agent=agent,
        subscription=0,
        input_ids=tuple(a.id for a in inputs),
        correlation_id="c1",
        priority=priority,
    )


@asynccontextmanager
async def stores(schema: str, count: int, **options: Any) -> AsyncGenerator[list[PostgresBlackboardStore]]:
    made = [PostgresBlackboardStore(PG_DSN, schema=schema, **options) for _ in range(count)]
    try:
        yield made
    finally:
        for store in made:
            await store.close()


async def eventually_leads(store: PostgresBlackboardStore, owner: str) -> bool:
    """Whether `store` leads within 5 s (the server releases a dead session's lock a moment after it ends)."""
    for _ in range(250):
        if await store.try_lead(owner):
            return True
        await anyio.sleep(0.02)
    return False


# -- construction, migrations ----------------------------------------------------------------------------


def test_the_store_is_a_shared_queue_and_connects_lazily() -> None:
    store = PostgresBlackboardStore("postgresql://flock:secret@db.invalid/flock", schema="board")
    assert isinstance(store, SharedQueueStore)
    assert shared_store(store) is store
    assert "secret" not in repr(store)
    assert repr(store).endswith(", schema='board')")
    assert "host=db.invalid" in repr(store)


@pytest.mark.parametrize("options", [{"schema": "Bad-Name"}, {"pool_size": 0}, {"tenant": ""}])
def test_invalid_options_are_rejected(options: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        PostgresBlackboardStore(PG_DSN, **options)


async def test_first_use_migrates_once_even_from_many_stores_at_once(pg_schema: str) -> None:
    async with stores(pg_schema, 4) as made, anyio.create_task_group() as group:
        for store in made:
            group.start_soon(store.append, note("x"))
    async with stores(pg_schema, 1) as (store,):
        assert (await store.query(ArtifactQuery())).total == 4
        assert await store._fetch("SELECT version FROM schema_version") == [(len(MIGRATIONS),)]


async def test_a_new_migration_is_applied_once_and_a_newer_schema_is_refused(pg_schema: str) -> None:
    async with stores(pg_schema, 1) as (store,):
        await store.board_state()
        db = await store._open()
        conn = await db.connect()
        try:
            newer: tuple[tuple[LiteralString, ...], ...] = (
                *MIGRATIONS,
                ("ALTER TABLE fingerprints ADD COLUMN note TEXT",),
            )
            latest = len(MIGRATIONS) + 1
            assert await migrate(conn, pg_schema, newer) == latest
            assert await migrate(conn, pg_schema, newer) == latest
            with pytest.raises(StoreError, match=f"version {latest}, newer than this flock_core"):
                await migrate(conn, pg_schema)
        finally:
            await conn.close()


def test_a_plain_script_may_use_the_store_across_event_loops(pg_schema: str) -> None:
    store = PostgresBlackboardStore(PG_DSN, schema=pg_schema)
    assert anyio.run(store.append, note("first")) == 1
    assert anyio.run(store.append, note("second")) == 2
    anyio.run(store.close)


# -- the shared work queue -------------------------------------------------------------------------------


async def test_claim_orders_by_priority_then_age_and_filters_agents(pg_schema: str) -> None:
    async with stores(pg_schema, 1) as (store,):
        records = [item("a"), item("b", priority=5), item("c", agent="editor", priority=9), item("d")]
        await store.commit(Commit(enqueue=tuple(records)))
        claimed = await store.claim("w1", limit=2, agents={"writer"}, lease_until=FUTURE)
        assert [(r.key, r.status, r.attempts, r.lease_owner) for r in claimed] == [
            ("b", "leased", 1, "w1"),
            ("a", "leased", 1, "w1"),
        ]
        assert [r.key for r in await store.claim("w2", limit=9, agents=None, lease_until=FUTURE)] == ["c", "d"]
        assert await store.claim("w3", limit=9, agents=None, lease_until=FUTURE) == []
        assert await store.claim("w3", limit=0, agents=None, lease_until=FUTURE) == []


async def test_concurrent_claims_never_share_an_item(pg_schema: str) -> None:
    async with stores(pg_schema, 4) as made:
        await made[0].commit(Commit(enqueue=tuple(item(f"k{i}") for i in range(200))))
        claimed: dict[str, list[str]] = {}

        async def drain(store: PostgresBlackboardStore, owner: str) -> None:
            while got := await store.claim(owner, limit=7, agents=None, lease_until=FUTURE):
                claimed.setdefault(owner, []).extend(r.key for r in got)

        async with anyio.create_task_group() as group:
            for n, store in enumerate(made):
                group.start_soon(drain, store, f"w{n}")
        keys = [k for ks in claimed.values() for k in ks]
        assert sorted(keys) == sorted(f"k{i}" for i in range(200))
        assert len(claimed) > 1


async def test_expired_leases_are_claimed_again_and_renewed_ones_are_not(pg_schema: str) -> None:
    async with stores(pg_schema, 1) as (store,):
        await store.commit(Commit(enqueue=(item("old"), item("kept"))))
        await store.claim("w1", limit=2, agents=None, lease_until=PAST)
        assert await store.renew(["kept", "unknown"], "w1", FUTURE) == Renewal(frozenset({"kept"}))
        assert await store.renew(["old"], "somebody-else", FUTURE) == Renewal(lost=frozenset({"old"}))
        assert await store.renew([], "w1", FUTURE) == Renewal()
        [taken] = await store.claim("w2", limit=5, agents=None, lease_until=FUTURE)
        assert (taken.key, taken.attempts, taken.lease_owner) == ("old", 2, "w2")


async def test_a_renewal_tells_items_its_owner_finished_from_items_another_owner_took(pg_schema: str) -> None:
    async with stores(pg_schema, 1) as (store,):
        await store.commit(Commit(enqueue=(item("mine"), item("theirs"), item("running"), item("released"))))
        await store.claim("w1", limit=4, agents=None, lease_until=PAST)
        await store.commit(Commit(complete="mine"))  # w1 finished it while its renewal was on the way
        [taken] = await store.claim("w2", limit=1, agents=None, lease_until=FUTURE)
        await store.commit(Commit(complete=taken.key))  # w2 took the expired lease over and finished it
        await store.release(["released"])
        keys = ["mine", "theirs", "running", "released", "unknown"]

        renewal = await store.renew(keys, "w1", FUTURE)

        assert taken.key == "theirs"
        assert renewal == Renewal(renewed=frozenset({"running"}), lost=frozenset({"theirs", "released"}))


async def test_board_state_counts_and_routing_commits(pg_schema: str) -> None:
    async with stores(pg_schema, 1) as (store,):
        assert (await store.board_state()).settled
        first, second = note("1"), note("2")
        await store.append(first)
        await store.append(second)
        assert await store.board_state() == BoardState(unrouted=2, pending=0, leased=0, open_groups=0)
        assert await store.try_lead("router")
        routing = Commit(enqueue=(item("k", first), item("j", second)))
        assert await store.commit_routing(routing, 1, BoardState(0, 0, 0, 3, 1))
        await store.claim("w", limit=1, agents=None, lease_until=FUTURE)
        assert await store.board_state() == BoardState(unrouted=1, pending=1, leased=1, open_groups=3, delayed=1)
        assert await store.router_cursor() == 1
        assert [seq for seq, _ in await store.unrouted(await store.router_cursor(), 10)] == [2]


async def test_a_routing_commit_completing_finished_work_stores_nothing_and_says_so(pg_schema: str) -> None:
    async with stores(pg_schema, 1) as (store,):
        await store.commit(Commit(enqueue=(item("k"),)))
        assert await store.commit(Commit(complete="k"))
        assert await store.try_lead("router")
        late = note("late")
        assert not await store.commit_routing(Commit(artifacts=(late,), complete="k"), 0, BoardState(0, 0, 0, 0))
        assert await store.get(late.id) is None


# -- the router lock -------------------------------------------------------------------------------------


async def test_one_router_at_a_time_and_a_closed_router_is_replaced(pg_schema: str) -> None:
    async with stores(pg_schema, 2) as (first, second):
        assert await first.try_lead("a")
        assert await first.try_lead("a")
        assert not await second.try_lead("b")
        assert not await first.try_lead("other-owner-of-the-same-store")
        await first.close()  # a crash: the server releases the lock with the session
        assert await eventually_leads(second, "b")
        assert not await first.try_lead("a")
        await second.resign("b")
        assert await eventually_leads(first, "a")


async def test_a_router_that_lost_its_lock_is_fenced_off(pg_schema: str) -> None:
    async with stores(pg_schema, 3) as (stale, fresh, admin):
        assert await stale.try_lead("stale")
        assert stale._leader_conn is not None
        await admin._fetch("SELECT pg_terminate_backend(%s)", (stale._leader_conn.info.backend_pid,))
        assert await eventually_leads(fresh, "fresh")
        output, routed = note("output"), item("routed")
        await stale.commit_routing(Commit(artifacts=(output,), enqueue=(routed,)), 99, BoardState(0, 0, 0, 7))
        assert await admin.get(output.id) == output, "outputs are kept"
        assert await admin.work() == [], "routing is dropped"
        assert (await admin.router_cursor(), (await admin.board_state()).open_groups) == (0, 0)
        assert not await stale.try_lead("stale"), "the loss is reported, so the old router replays if it returns"


# -- LISTEN/NOTIFY ---------------------------------------------------------------------------------------


async def test_wait_for_change_wakes_on_another_process_commit(pg_schema: str) -> None:
    async with stores(pg_schema, 2) as (waiter, writer):
        await waiter.wait_for_change(0.01)  # LISTEN starts on first use
        started = time.monotonic()
        await waiter.wait_for_change(0.2)
        assert 0.15 <= time.monotonic() - started < 2, "nothing changed: waits out the timeout"
        woke: list[float] = []

        async def wait() -> None:
            started = time.monotonic()
            await waiter.wait_for_change(10)
            woke.append(time.monotonic() - started)

        async with anyio.create_task_group() as group:
            group.start_soon(wait)
            await anyio.sleep(0.1)
            await writer.append(note("x"))
        assert woke[0] < 2


async def test_wait_for_change_falls_back_to_polling(pg_schema: str) -> None:
    async with stores(pg_schema, 2) as (waiter, admin):
        await waiter.wait_for_change(0.01)
        db = await waiter._open()
        assert db._listener is not None
        await admin._fetch("SELECT pg_terminate_backend(%s)", (db._listener.info.backend_pid,))
        started = time.monotonic()
        await waiter.wait_for_change(1)
        assert time.monotonic() - started < 1
        await waiter.wait_for_change(0.01)  # listens again
        assert db._listener is not None


# -- tenant isolation in the database --------------------------------------------------------------------


async def test_a_tenant_scoped_store_never_gets_another_tenants_rows(pg_schema: str) -> None:
    public, acme = note("public"), note("acme", visibility=TenantVisibility(tenant_id="acme"))
    globex = note("globex", visibility=TenantVisibility(tenant_id="globex"))
    later = note("later", visibility=AfterVisibility(ttl=timedelta(0), then=TenantVisibility(tenant_id="globex")))
    private = note("private", visibility=PrivateVisibility(agents=frozenset({"x"})))
    async with stores(pg_schema, 1) as (admin,), stores(pg_schema, 1, tenant="acme") as (scoped,):
        for artifact in (public, acme, globex, later, private):
            await admin.append(artifact)
        work = (item("on-acme", acme), item("on-globex", globex, later), item("on-public", public))
        await admin.commit(Commit(enqueue=work))
        mine = {public.id, acme.id}  # private to `x` without a tenant: not acme's

        assert {a.id for _, a in await scoped.unrouted(0, 100)} == mine
        assert {a.id for a in (await scoped.query(ArtifactQuery())).items} == mine
        assert (await scoped.get(globex.id), await scoped.get(later.id)) == (None, None)
        assert await scoped.get_many([globex.id, acme.id, later.id]) == [acme]
        assert {r.key for r in await scoped.work()} == {"on-acme", "on-public"}
        assert {r.key for r in await scoped.claim("w", limit=9, agents=None, lease_until=FUTURE)} == {
            "on-acme",
            "on-public",
        }
        assert (await scoped.board_state()).unrouted == 2
        assert not await scoped.try_lead("w"), "a scoped store sees part of the board, so it never routes"
        with pytest.raises(ConfigurationError, match="before the store is first used"):
            scoped.restrict_to_tenant("globex")
        with pytest.raises(StoreError, match="tenant scope of this store"):
            await scoped.append(note("smuggled", visibility=TenantVisibility(tenant_id="globex")))

        # Raw SQL through the scoped store's connections, after trying to reset the scope, still sees nothing.
        db = await scoped._open()
        async with db.connection() as conn:
            await conn.execute("RESET ROLE")
            await conn.execute("RESET flock.tenant")
            cursor = await conn.execute(
                "SELECT current_user, current_setting('flock.tenant'), count(*) FILTER (WHERE tenant_id = 'globex') "
                "FROM artifacts"
            )
            assert await cursor.fetchall() == [("flock_tenant", "acme", 0)]

        identity = AgentIdentity("reader", tenant="acme")
        assert {a.id for a in (await admin.query(ArtifactQuery(visible_to=identity, now=FUTURE))).items} == {
            public.id,
            acme.id,
        }


async def test_row_level_security_binds_a_table_owner_that_is_not_a_superuser(pg_schema: str) -> None:
    role = f"flock_owner_{uuid.uuid4().hex[:8]}"
    database = str(conninfo_to_dict(PG_DSN)["dbname"])
    with psycopg.connect(PG_DSN, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOBYPASSRLS").format(sql.Identifier(role)))
        admin.execute(
            sql.SQL("GRANT CREATE ON DATABASE {} TO {}").format(sql.Identifier(database), sql.Identifier(role))
        )
    dsn = make_conninfo(PG_DSN, user=role)
    acme, globex = (note(t, visibility=TenantVisibility(tenant_id=t)) for t in ("acme", "globex"))
    try:
        owner, scoped = (
            PostgresBlackboardStore(dsn, schema=pg_schema),
            PostgresBlackboardStore(dsn, schema=pg_schema, tenant="acme"),
        )
        try:
            await owner.append(acme)
            await owner.append(globex)
            assert [a.id for a in (await scoped.query(ArtifactQuery())).items] == [acme.id]
            assert await scoped._fetch("SELECT current_user") == [(role,)], "no role switch: FORCE binds the owner"
        finally:
            await owner.close()
            await scoped.close()
    finally:
        with psycopg.connect(PG_DSN, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(pg_schema)))
            admin.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


# -- the distributed scenarios of test_distributed.py, each Flock with its own store on one schema -------
# (types and declarations are shared with test_distributed.py)


async def test_every_activation_runs_exactly_once_across_workers(pg_schema: str) -> None:
    calls: Counter[str] = Counter()
    async with stores(pg_schema, 3) as made:
        a, b, c = (declare(store, calls) for store in made)
        await a.publish_many([Job(n=i) for i in range(40)])
        with anyio.fail_after(30):
            async with anyio.create_task_group() as group:
                for flock in (a, b, c):
                    group.start_soon(flock.run_until_idle)
        assert len(await a.get_by_type(Done)) == 80
        assert len(await c.get_by_type(Part)) == 80
        assert all(count == 1 for count in calls.values())
        assert len(calls) == 40 + 80
        assert (await made[1].board_state()).settled


async def test_a_trace_spans_the_processes_that_worked_on_it(pg_schema: str) -> None:
    exporters = [InMemorySpanExporter() for _ in range(2)]
    providers = [TracerProvider() for _ in exporters]
    for provider, exporter in zip(providers, exporters, strict=True):
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    async with stores(pg_schema, 2) as made:
        publisher, worker = (
            declare(store, Counter(), provider) for store, provider in zip(made, providers, strict=True)
        )
        await publisher.publish(Job(n=1))
        publisher._core.board.stop_claiming()  # waits (and may route) but claims no work
        with anyio.fail_after(30):
            async with anyio.create_task_group() as group:
                group.start_soon(worker.run_worker)
                await publisher.run_until(ArtifactCount(Done, 2))
                group.cancel_scope.cancel()
    [publish] = [s for s in exporters[0].get_finished_spans() if s.name == "publish Job"]
    assert publish.context is not None
    assert not [s for s in exporters[0].get_finished_spans() if s.name.startswith("invoke_agent")]
    activations = [s for s in exporters[1].get_finished_spans() if s.name.startswith("invoke_agent")]
    assert len(activations) == 3, "split, then finish for each part, all in the worker"
    assert {s.context.trace_id for s in activations if s.context} == {publish.context.trace_id}
    assert publish.parent is not None
    assert {s.parent.span_id for s in activations if s.parent} == {publish.parent.span_id}, (
        "siblings under the publisher's workflow span, read back from the board"
    )
    [split] = [s for s in activations if s.name == "invoke_agent split"]
    assert [link.context.span_id for link in split.links] == [publish.context.span_id]


async def test_cross_process_join_fires_once(pg_schema: str) -> None:
    calls: Counter[str] = Counter()
    async with stores(pg_schema, 2) as made:
        a, b = (declare(store, calls) for store in made)
        await a.publish(Order(order_id=7))
        await b.publish(Payment(order_id=7))
        with anyio.fail_after(20):
            async with anyio.create_task_group() as group:
                group.start_soon(a.run_until_idle)
                group.start_soon(b.run_until_idle)
        assert await a.get_by_type(Shipment) == [Shipment(order_id=7)]
        assert sum(1 for k in calls if k.startswith("ship:")) == 1


async def test_new_router_takes_over_and_abandoned_lease_is_reclaimed(pg_schema: str) -> None:
    calls: Counter[str] = Counter()
    async with stores(pg_schema, 2) as (crashed_store, survivor_store):
        crashed, survivor = declare(crashed_store, calls), declare(survivor_store, calls)
        board = crashed._core.board
        assert isinstance(board, SharedBoard)
        board.lease = timedelta(seconds=0)
        await crashed.publish(Job(n=1))
        await crashed.publish(Order(order_id=1))
        await crashed._core.pull(1)
        [leased] = await survivor_store.work(("leased",))
        assert leased.lease_owner == crashed.worker_id
        await crashed_store.close()  # the process dies: its router lock goes with its connections
        await survivor.publish(Payment(order_id=1))
        with anyio.fail_after(20):
            await survivor.run_until_idle()
        assert await survivor.get_by_type(Shipment) == [Shipment(order_id=1)]
        assert len(await survivor.get_by_type(Done)) == 2
        record = {r.key: r for r in await survivor_store.work()}[leased.key]
        assert (record.status, record.attempts, record.lease_owner) == ("done", 2, survivor._core.worker_id)
        assert all(count == 1 for count in calls.values())


async def test_dead_letters_and_requeue(pg_schema: str) -> None:
    failures = [True]

    async def engine(request: EvaluationRequest) -> list[BaseModel]:
        if failures.pop(0) if failures else False:
            raise RuntimeError("flaky")
        return [Done(n=0)]

    async with stores(pg_schema, 1) as (store,):
        flock = Flock(store=store, engine=FunctionEngine(engine))
        flock.register_type(Job)
        flock.register_type(Done)
        flock.agent("finish").consumes(Job).publishes(Done)
        await flock.publish(Job(n=0))
        with anyio.fail_after(20):
            await flock.run_until_idle()
        [dead] = await flock.dead_letters()
        assert (dead.agent, dead.error) == ("finish", "flaky")
        assert await flock.replay(dead.key)
        with anyio.fail_after(20):
            await flock.run_until_idle()
        assert await flock.dead_letters() == []
        assert await flock.get_by_type(Done) == [Done(n=0)]
