"""The PostgreSQL store's schema, migrations and connections.

The schema version lives in the table `schema_version` of the store's schema: migration `n` (1-based) of
`MIGRATIONS` brings version `n - 1` to `n`. A new version appends one step and never edits an old one.
Every process migrates on first use; a cluster-wide advisory lock makes concurrent starts safe.

Tenant isolation is enforced by the server: `artifacts` and `work_items` have row-level security (forced,
so it binds the tables' owner too) that hides rows scoped to a tenant other than the session's
`flock.tenant` setting. A tenant-scoped store sets `flock.tenant` (and, when its login role bypasses
row-level security, the role `flock_tenant`) as connection startup options, so every connection of
the store is scoped from its first statement and `RESET` returns to the scoped values.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from collections.abc import AsyncGenerator, Sequence
from contextlib import asynccontextmanager
from typing import Any, LiteralString

import anyio
import psycopg
from psycopg import AsyncConnection, sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.pq import TransactionStatus

from ...exceptions import ConfigurationError, StoreError
from .._store import ArtifactQuery
from .._work import ExpiredJoin, Tick, WorkRecord

__all__ = [
    "ARTIFACT_JSON",
    "BOARD_STATE",
    "CANCEL_WORK",
    "CLAIM",
    "CONSUME",
    "ENQUEUE",
    "INSERT_ARTIFACTS",
    "INSERT_EXPIRED",
    "LEASE",
    "MIGRATIONS",
    "UPSERT_TIMERS",
    "WORK_COLUMNS",
    "Connections",
    "advisory_key",
    "check_identifier",
    "close_quietly",
    "expired_row",
    "migrate",
    "open_connections",
    "redacted",
    "row_work",
    "where",
    "work_arrays",
]

_log = logging.getLogger("flock_core.postgres")

TENANT_ROLE = "flock_tenant"
"""The role a tenant-scoped store switches to when its login role would bypass row-level security."""

_TENANT_ONLY = "tenant_id IS NULL OR coalesce(current_setting('flock.tenant', true), '') IN ('', tenant_id)"
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
        f"CREATE POLICY tenant_isolation ON artifacts USING ({_TENANT_ONLY}) WITH CHECK ({_TENANT_ONLY})",
        "ALTER TABLE work_items ENABLE ROW LEVEL SECURITY",
        "ALTER TABLE work_items FORCE ROW LEVEL SECURITY",
        f"CREATE POLICY tenant_isolation ON work_items USING ({_TENANT_ONLY}) WITH CHECK ({_TENANT_ONLY})",
    ),
    # 2: cancelled workflows (their work items get the status 'cancelled').
    (
        "ALTER TABLE work_items DROP CONSTRAINT work_items_status_check",
        "ALTER TABLE work_items ADD CONSTRAINT work_items_status_check "
        "CHECK (status IN ('pending', 'leased', 'done', 'failed', 'cancelled'))",
        "CREATE TABLE cancelled_workflows (correlation_id TEXT PRIMARY KEY, reason TEXT NOT NULL)",
        "CREATE TABLE paused_workflows (correlation_id TEXT PRIMARY KEY)",  # '*': the whole board
    ),
)
"""Schema migrations in order; each step is a list of statements applied in one transaction."""

_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,47}")
_MIGRATE_KEY = "flock_core:migrate"


def advisory_key(*parts: str) -> int:
    """A stable signed 64-bit advisory lock key for `parts` (the same in every process)."""
    digest = hashlib.blake2b("\x1f".join(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def check_identifier(schema: str) -> str:
    """`schema` if it is a plain lower-case identifier (it is written into SQL and channel names)."""
    if not _IDENTIFIER.fullmatch(schema):
        raise ConfigurationError(
            f"PostgresBlackboardStore(schema=...) must match {_IDENTIFIER.pattern} (lower case), got {schema!r}"
        )
    return schema


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


# -- the statements the store runs ---------------------------------------------------------------------

ARTIFACT_JSON = """json_build_object(
    'id', id, 'type', type, 'payload', payload, 'produced_by', produced_by, 'correlation_id', correlation_id,
    'partition_key', partition_key, 'tags', tags, 'visibility', visibility, 'created_at', created_at,
    'version', version, 'consumed_from', consumed_from, 'trace_context', trace_context)"""
"""A SQL expression rebuilding an artifact row as the JSON that `Artifact` validates."""

INSERT_ARTIFACTS = """
INSERT INTO artifacts (id, type, produced_by, correlation_id, partition_key, tags, visibility, created_at,
                       version, payload, consumed_from, trace_context)
SELECT (j->>'id')::uuid, j->>'type', j->>'produced_by', j->>'correlation_id', j->>'partition_key',
       ARRAY(SELECT jsonb_array_elements_text(j->'tags')), j->'visibility', (j->>'created_at')::timestamptz,
       (j->>'version')::int, j->'payload', ARRAY(SELECT jsonb_array_elements_text(j->'consumed_from'))::uuid[],
       j->'trace_context'
FROM unnest(%s::jsonb[]) WITH ORDINALITY AS t(j, n) ORDER BY n
RETURNING seq"""

WORK_COLUMNS = (
    "key, agent, subscription, input_ids, correlation_id, priority, batched, tick_number, tick_at, status, "
    "attempts, last_error, lease_owner, lease_until"
)

ENQUEUE = f"""
WITH new AS (
    INSERT INTO work_items ({WORK_COLUMNS}, tenant_id)
    SELECT r.key, r.agent, r.subscription, string_to_array(r.inputs, ',')::uuid[], r.correlation_id, r.priority,
           r.batched, r.tick_number, r.tick_at,
           CASE WHEN EXISTS (SELECT 1 FROM cancelled_workflows c WHERE c.correlation_id = r.correlation_id)
                THEN 'cancelled' ELSE r.status END,
           r.attempts, r.last_error, r.lease_owner, r.lease_until,
           (SELECT max(a.tenant_id) FROM artifacts a WHERE a.id = ANY(string_to_array(r.inputs, ',')::uuid[]))
    FROM unnest(%s::text[], %s::text[], %s::int[], %s::text[], %s::text[], %s::int[], %s::bool[], %s::int[],
                %s::timestamptz[], %s::text[], %s::int[], %s::text[], %s::text[], %s::timestamptz[])
         WITH ORDINALITY AS r(key, agent, subscription, inputs, correlation_id, priority, batched, tick_number,
                              tick_at, status, attempts, last_error, lease_owner, lease_until, n)
    ORDER BY r.n
    ON CONFLICT (key) DO NOTHING
    RETURNING agent, input_ids
)
INSERT INTO consumptions (agent, artifact_id) SELECT agent, unnest(input_ids) FROM new ON CONFLICT DO NOTHING"""

CONSUME = (
    "INSERT INTO consumptions (agent, artifact_id) SELECT * FROM unnest(%s::text[], %s::uuid[]) ON CONFLICT DO NOTHING"
)
UPSERT_TIMERS = (
    "INSERT INTO timers (agent, number, scheduled_at) SELECT * FROM unnest(%s::text[], %s::int[], %s::timestamptz[]) "
    "ON CONFLICT (agent) DO UPDATE SET number = excluded.number, scheduled_at = excluded.scheduled_at"
)
INSERT_EXPIRED = (
    "INSERT INTO expired_joins (agent, subscription, join_key, artifact_ids, types, reason, expired_at) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s)"
)
CLAIM = f"""
UPDATE work_items w SET status = 'leased', attempts = w.attempts + 1, lease_owner = %s, lease_until = %s
FROM (SELECT key FROM work_items
      WHERE (status = 'pending' OR (status = 'leased' AND lease_until <= now()))
        AND (%s::text[] IS NULL OR agent = ANY(%s::text[]))
        AND NOT EXISTS (SELECT 1 FROM paused_workflows p WHERE p.correlation_id IN (work_items.correlation_id, '*'))
      ORDER BY priority DESC, seq
      LIMIT %s
      FOR UPDATE SKIP LOCKED) picked
WHERE w.key = picked.key
RETURNING w.seq, {", ".join(f"w.{c.strip()}" for c in WORK_COLUMNS.split(","))}"""
LEASE = f"""
UPDATE work_items SET status = 'leased', attempts = attempts + 1, lease_owner = %(owner)s, lease_until = %(until)s
WHERE key = %(key)s AND (status = 'pending' OR (status = 'leased'
      AND (lease_until IS NULL OR lease_until <= now() OR lease_owner = %(owner)s)))
  AND NOT EXISTS (SELECT 1 FROM paused_workflows p WHERE p.correlation_id IN (work_items.correlation_id, '*'))
RETURNING {WORK_COLUMNS}"""
CANCEL_WORK = f"""
SELECT {WORK_COLUMNS} FROM work_items WHERE correlation_id = %s AND status IN ('pending', 'leased')
ORDER BY seq FOR UPDATE"""
BOARD_STATE = """
SELECT (SELECT count(*) FROM artifacts WHERE seq > r.routed_seq),
       (SELECT count(*) FROM work_items w WHERE status = 'pending'
        AND NOT EXISTS (SELECT 1 FROM paused_workflows p WHERE p.correlation_id IN (w.correlation_id, '*'))),
       (SELECT count(*) FROM work_items WHERE status = 'leased'),
       r.open_groups, r.delayed
FROM router_state r"""


def where(query: ArtifactQuery) -> tuple[LiteralString, list[Any]]:
    """The `WHERE` clause and parameters of `query`'s filters (visibility only as a prefilter)."""
    clauses: list[LiteralString] = []
    params: list[Any] = []
    filters: list[tuple[LiteralString, Any]] = [
        ("type = ANY(%s)", None if query.types is None else sorted(query.types)),
        ("produced_by = ANY(%s)", None if query.produced_by is None else sorted(query.produced_by)),
        ("correlation_id = %s", query.correlation_id),
        ("tags @> %s::text[]", None if not query.tags else sorted(query.tags)),
        ("created_at >= %s", query.since),
        ("created_at < %s", query.until),
    ]
    for clause, value in filters:
        if value is not None:
            clauses.append(clause)
            params.append(value)
    identity = query.visible_to
    if identity is not None:  # a prefilter only: `matches` applies every rule (labels, delays) afterwards
        clauses.append("(tenant_id IS NULL OR tenant_id = %s)")
        params.append(identity.tenant)
        clauses.append("(visibility_kind <> 'private' OR visibility -> 'agents' ? %s)")
        params.append(identity.name)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def work_arrays(records: Sequence[WorkRecord]) -> tuple[list[Any], ...]:
    """The parallel arrays `ENQUEUE` unnests, one element per record (`records` is not empty)."""
    rows = [
        (r.key, r.agent, r.subscription, ",".join(map(str, r.input_ids)), r.correlation_id, r.priority, r.batched)
        + ((None, None) if r.tick is None else (r.tick.number, r.tick.scheduled_at))
        + (r.status, r.attempts, r.last_error, r.lease_owner, r.lease_until)
        for r in records
    ]
    return tuple(list(column) for column in zip(*rows, strict=True))


def row_work(row: Sequence[Any]) -> WorkRecord:
    """The work record in a row of `WORK_COLUMNS`."""
    tick = None if row[7] is None else Tick(row[7], row[8])
    return WorkRecord(row[0], row[1], row[2], tuple(row[3]), row[4], row[5], row[6], tick, *row[9:14])


def expired_row(join: ExpiredJoin) -> tuple[Any, ...]:
    """The `INSERT_EXPIRED` parameters of `join`."""
    key = (join.agent, join.subscription, join.key)
    return (*key, list(join.artifact_ids), list(join.types), join.reason, join.expired_at)


# -- connections ----------------------------------------------------------------------------------------


def _escape_option(value: str) -> str:
    return value.replace("\\", "\\\\").replace(" ", "\\ ")


def conninfo(dsn: str, schema: str, settings: dict[str, str]) -> str:
    """`dsn` with startup options: the search path, UTC, and `settings` (appended to the DSN's own options)."""
    params = conninfo_to_dict(dsn)
    options = [str(params.pop("options", "") or "")]
    for name, value in {"search_path": schema, "TimeZone": "UTC", **settings}.items():
        options.append(f"-c {name}={_escape_option(value)}")
    params.setdefault("application_name", "flock_core")
    return make_conninfo("", **params, options=" ".join(o for o in options if o))


def redacted(dsn: str) -> str:
    """`dsn` without its password, for messages."""
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "<invalid DSN>"
    params.pop("password", None)
    return make_conninfo("", **params)


class Connections:
    """A small pool of autocommit connections to one server, bound to the event loop that opened it.

    A connection goes back to the pool only when it is idle and healthy; one left inside a transaction or
    in an unknown state (cancelled mid-statement, broken socket) is closed instead. Server errors become
    `StoreError`.
    """

    def __init__(self, info: str, size: int, label: str) -> None:
        self.info = info
        self.label = label
        self._idle: list[AsyncConnection[Any]] = []
        self._slots = anyio.Semaphore(size)
        self._listener: AsyncConnection[Any] | None = None
        self._backoff = 0.05
        self._closed = False
        self.loop = asyncio.get_running_loop()

    async def connect(self) -> AsyncConnection[Any]:
        """A new autocommit connection outside the pool (the caller closes it)."""
        try:
            return await AsyncConnection.connect(self.info, autocommit=True)
        except psycopg.Error as exc:
            raise StoreError(f"{self.label}: cannot connect: {exc}") from exc

    @asynccontextmanager
    async def connection(self) -> AsyncGenerator[AsyncConnection[Any]]:
        """Borrow a pooled connection."""
        async with self._slots:
            conn = self._idle.pop() if self._idle else await self.connect()
            try:
                yield conn
            except psycopg.Error as exc:
                raise StoreError(f"{self.label}: {describe(exc)}") from exc
            finally:
                if self._closed or conn.broken or conn.info.transaction_status != TransactionStatus.IDLE:
                    await close_quietly(conn)
                else:
                    self._idle.append(conn)

    @asynccontextmanager
    async def transaction(self) -> AsyncGenerator[AsyncConnection[Any]]:
        """Borrow a pooled connection inside one transaction (committed on success, else rolled back).

        The connection is in pipeline mode: statements are sent without waiting for their results, so a
        transaction costs a round trip per result read (`fetchone`) plus one for the commit.
        """
        async with self.connection() as conn, conn.pipeline(), conn.transaction():
            yield conn

    async def wait_for_notify(self, channel: str, timeout: float) -> None:
        """Return on a `NOTIFY` on `channel` or after `timeout` s; if `LISTEN` fails, back off, then retry."""
        try:
            if self._listener is None:
                self._listener = await self.connect()
                await self._listener.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
            async for _ in self._listener.notifies(timeout=timeout, stop_after=1):
                pass
            self._backoff = 0.05
        except (psycopg.Error, StoreError) as exc:
            _log.warning("%s: LISTEN failed (%s); polling every %.2f s", self.label, exc, self._backoff)
            listener, self._listener = self._listener, None
            await close_quietly(listener)
            await anyio.sleep(min(self._backoff, timeout))
            self._backoff = min(self._backoff * 2, 2.0)

    async def close(self) -> None:
        """Close the idle connections and the listener (borrowed ones are closed when they come back)."""
        self._closed = True
        idle, self._idle, listener, self._listener = self._idle, [], self._listener, None
        for conn in [*idle, listener]:
            await close_quietly(conn)

    def abandon(self) -> None:
        """Drop the connections of a finished event loop without awaiting it (their sockets are closed)."""
        idle, self._idle, listener, self._listener = self._idle, [], self._listener, None
        for conn in [*idle, listener]:
            if conn is not None:
                conn.pgconn.finish()


def describe(exc: psycopg.Error) -> str:
    """What a server error means for the store's caller."""
    if isinstance(exc, psycopg.errors.UniqueViolation) and exc.diag.constraint_name == "artifacts_id_key":
        return f"{exc.diag.message_detail or 'an artifact id'} is already stored; artifacts are immutable"
    if isinstance(exc, psycopg.errors.InsufficientPrivilege):
        return f"refused by the tenant scope of this store (row-level security): {exc.diag.message_primary}"
    return str(exc)


async def close_quietly(conn: AsyncConnection[Any] | None) -> None:
    """Close `conn` even inside a cancelled scope; a connection that fails to close is already gone."""
    if conn is None or conn.closed:
        return
    with anyio.CancelScope(shield=True):
        try:
            await conn.close()
        except psycopg.Error:
            conn.pgconn.finish()


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
    except psycopg.Error as exc:
        raise StoreError(f"{label}: cannot migrate: {exc}") from exc
    finally:
        await close_quietly(setup)
    settings: dict[str, str] = {}
    if tenant is not None:
        settings["flock.tenant"] = tenant
        if bypasses and not may_switch:
            raise StoreError(
                f"{label}: tenant isolation needs the role {TENANT_ROLE!r} (created by a superuser's first "
                "migration) or a login role without BYPASSRLS"
            )
        if bypasses:
            settings["role"] = TENANT_ROLE
    return Connections(conninfo(dsn, schema, settings), size, label)
