"""The PostgreSQL blackboard store: one board shared by many processes and machines.

It implements both `BlackboardStore` and `SharedQueueStore`: the system of record, and the work queue
that `flock worker` processes claim from. See docs/distributed.md for the model.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
import warnings
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any, LiteralString, TypeVar
from uuid import UUID

import anyio
import psycopg
from psycopg import AsyncConnection
from pydantic import BaseModel, TypeAdapter

from ..._budget import Budget
from ..._clock import utcnow
from ..._usage import Usage
from ...exceptions import ConfigurationError, StoreError
from .._approvals import ApprovalRequest, ApprovalStatus
from .._artifacts import Artifact
from .._budget_rows import budget_json, stored_budget, usage_row
from .._registry import type_name_of
from .._shared import BoardState, Renewal
from .._store import (
    CONSUMERS_OF_DEPRECATED,
    RECORD_CONSUMPTION_DEPRECATED,
    ArtifactPage,
    ArtifactQuery,
    StoredBudget,
    matches,
)
from .._work import FINISHED, Commit, ExpiredJoin, TimerState, WorkRecord, WorkStatus
from . import _approvals as approvals
from . import _rows as codec
from . import _statements as pg
from ._connect import open_connections
from ._dsn import redacted
from ._names import advisory_key, check_identifier, check_tenant
from ._pool import Connections, close_quietly, running_loop
from ._publishing import Publishing, only_appends
from ._tenancy import grant_tenant

__all__ = ["PostgresBlackboardStore"]

M = TypeVar("M", bound=BaseModel)

_log = logging.getLogger("flock_core.postgres")
_ARTIFACTS = TypeAdapter(list[Artifact])
_BUDGETS: LiteralString = (
    "SELECT correlation_id, budget, started_at, calls, input_tokens, output_tokens, cost FROM workflow_budgets "
    "WHERE tenant_id IS NOT DISTINCT FROM flock_session_tenant()"
)
_LEADER_CHECK_SECONDS = 1.0
_LEAD_RETRY_SECONDS = 0.2


class PostgresBlackboardStore:
    """Keeps the board in PostgreSQL, so many `Flock` processes (on many machines) share it.

    One process at a time routes (it holds a session advisory lock, released by the server if the
    process dies); every process claims work items with `FOR UPDATE SKIP LOCKED` and a lease; commits
    notify the other processes with `NOTIFY`. The schema is created or migrated on first use.

    Args:
        dsn: a libpq connection string or URL, e.g. `postgresql://flock@db.internal/flock`.
        schema: the PostgreSQL schema holding this board (one board per schema).
        tenant: scope every connection to this tenant: the server's row-level security then hides the
            artifacts and work of other tenants from this store, whatever the Python code asks for.
        pool_size: connections used for queries and commits at once (plus one for `LISTEN` and one
            for the router lock).

    Requires the `postgres` extra (`pip install flockboard[postgres]`) and the asyncio event loop.
    """

    def __init__(self, dsn: str, *, schema: str = "flock", tenant: str | None = None, pool_size: int = 8) -> None:
        if pool_size < 1:
            raise ConfigurationError(f"PostgresBlackboardStore(pool_size=...) must be >= 1, got {pool_size}")
        self.dsn = dsn
        self.schema = check_identifier(schema)
        self.pool_size = pool_size
        self._tenant = check_tenant(tenant)
        self._db: Connections | None = None
        self._opening: tuple[asyncio.AbstractEventLoop, anyio.Lock] | None = None
        self._seq_key = advisory_key("flock_core:seq", schema)
        self._lead_key = advisory_key("flock_core:router", schema)
        self._fingerprints_key = advisory_key("flock_core:fingerprints", schema)
        self._leader_conn: AsyncConnection[Any] | None = None
        self._leader: str | None = None
        self._leader_checked = 0.0
        self._lead_tried = 0.0
        self._fenced = False
        self._publishing = Publishing(
            self._open, seq_key=self._seq_key, channel=self._channel, leader=lambda: self._leader, fenced=self._fence
        )

    def __repr__(self) -> str:
        tenant = "" if self._tenant is None else f", tenant={self._tenant!r}"
        return f"PostgresBlackboardStore({redacted(self.dsn)!r}, schema={self.schema!r}{tenant})"

    @property
    def shared(self) -> bool:
        """Always true: a PostgreSQL board runs in distributed mode."""
        return True

    @property
    def tenant(self) -> str | None:
        """The tenant every connection is scoped to, or `None` (sees every tenant)."""
        return self._tenant

    async def grant_tenant(self, role: str, tenant: str) -> None:
        """Scope the existing login `role` to `tenant` on this board (run as the schema's owner).

        A store whose DSN logs in as `role` must then be opened with `tenant=tenant`; the server scopes
        every one of its connections, and nothing run on them can widen that (see docs/distributed.md).
        """
        db = await self._open()
        async with db.connection() as conn:
            await grant_tenant(conn, self.schema, role, check_tenant(tenant) or tenant)

    def restrict_to_tenant(self, tenant: str) -> None:
        """Scope this store to `tenant` before its first use (what `flock worker --tenant` does)."""
        if self._db is not None:
            raise ConfigurationError("restrict_to_tenant() must be called before the store is first used")
        self._tenant = check_tenant(tenant)

    # -- connections ---------------------------------------------------------------------------------

    async def _open(self) -> Connections:
        """The connection pool, opened (and the schema migrated) on first use in this event loop."""
        loop = running_loop()
        if self._db is not None and self._db.loop is loop:
            return self._db
        if self._db is not None:  # its event loop ended (e.g. two `Flock.run` calls): start afresh in this one
            self._abandon()
        if self._opening is None or self._opening[0] is not loop:
            self._opening = (loop, anyio.Lock())
        async with self._opening[1]:
            if self._db is None:
                self._db = await open_connections(self.dsn, self.schema, self._tenant, self.pool_size)
            return self._db

    def _abandon(self) -> None:
        """Forget the connections of an event loop that has ended (closing their sockets)."""
        if self._db is not None:
            self._db.abandon()
        if self._leader_conn is not None:
            self._leader_conn.pgconn.finish()
        self._db, self._leader_conn, self._leader = None, None, None

    async def _notify(self, conn: AsyncConnection[Any]) -> None:
        await conn.execute("SELECT pg_notify(%s, '')", (self._channel,))

    @property
    def _channel(self) -> str:
        return f"flock_{self.schema}"

    # -- BlackboardStore ------------------------------------------------------------------------------

    async def append(self, artifact: Artifact) -> int:
        """Store `artifact`; an id that is already stored is rejected."""
        db = await self._open()
        async with db.transaction() as conn:
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (self._seq_key,))
            inserted = await conn.execute(pg.INSERT_ARTIFACT, (artifact.model_dump_json(),))
            await self._notify(conn)
            return int((await inserted.fetchall())[0][0])

    async def commit(self, commit: Commit) -> bool:
        """Apply `commit` in one transaction; False (nothing written) if its work item was already finished."""
        if only_appends(commit):  # a publish: one statement, grouped with concurrent ones
            return await self._publishing.publish(commit)
        db = await self._open()
        async with db.transaction() as conn:
            return await self._apply(conn, commit)

    async def _apply(
        self, conn: AsyncConnection[Any], commit: Commit, routing: tuple[int, BoardState] | None = None
    ) -> bool:
        """Check, then write `commit` (and the router's state with `routing`) on a pipelined connection.

        The checks lock the rows they read (router state, then the completed work item, then the
        sequence lock: always in this order) and cost one round trip; the writes and the commit another.
        """
        leader = None if routing is None else await conn.execute("SELECT leader FROM router_state FOR UPDATE")
        status = None
        if commit.complete is not None:
            status = await conn.execute("SELECT status FROM work_items WHERE key = %s FOR UPDATE", (commit.complete,))
        leading = False
        if leader is not None:
            found = await leader.fetchone()
            leading = self._leader is not None and found is not None and found[0] == self._leader
        if routing is not None and not leading:
            _log.warning("%r lost the router lead; its routing is dropped (the new router replays the board)", self)
            self._fenced = True
            commit = dataclasses.replace(commit, enqueue=(), timers=(), expired_joins=())
        finished = False
        if status is not None:
            row = await status.fetchone()
            if row is None:
                raise StoreError(f"no work item {commit.complete!r} to complete")
            finished = row[0] in FINISHED
        if not finished and commit.decide is not None:
            finished = not await approvals.decide(conn, commit.decide)
        if not finished:
            await self._write(conn, commit)
        if routing is not None and leading:
            await conn.execute(
                "UPDATE router_state SET routed_seq = greatest(routed_seq, %s), open_groups = %s, delayed = %s",
                (routing[0], routing[1].open_groups, routing[1].delayed),
            )
        return not finished

    async def _write(self, conn: AsyncConnection[Any], commit: Commit) -> None:
        if commit.artifacts or commit.enqueue:  # new rows become visible in sequence order (see `unrouted`)
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (self._seq_key,))
        if commit.artifacts:
            await conn.execute(pg.INSERT_ARTIFACTS, ([a.model_dump_json() for a in commit.artifacts],))
        if commit.enqueue:
            await conn.execute(pg.ENQUEUE, codec.work_arrays(commit.enqueue))
        await approvals.hold(conn, commit.hold)
        if commit.consumed:
            await conn.execute(pg.CONSUME, ([a for a, _ in commit.consumed], [i for _, i in commit.consumed]))
        if commit.outcome == "retry" and commit.complete is not None:
            await conn.execute(
                "UPDATE work_items SET status = 'pending', last_error = %s, retry_at = %s, lease_owner = NULL, "
                "lease_until = NULL WHERE key = %s",
                (commit.error, commit.retry_at, commit.complete),
            )
        elif commit.complete is not None:
            await conn.execute(
                "UPDATE work_items SET status = %s, last_error = %s WHERE key = %s",
                (commit.outcome, commit.error, commit.complete),
            )
        if commit.timers:
            timers = list({t.agent: t for t in commit.timers}.values())
            await conn.execute(
                pg.UPSERT_TIMERS,
                ([t.agent for t in timers], [t.number for t in timers], [t.scheduled_at for t in timers]),
            )
        if commit.expired_joins:
            async with conn.cursor() as cursor:
                await cursor.executemany(pg.INSERT_EXPIRED, [codec.expired_row(e) for e in commit.expired_joins])
        await self._notify(conn)

    async def _fetch(self, statement: LiteralString, params: Sequence[Any] | Mapping[str, Any] = ()) -> list[Any]:
        db = await self._open()
        async with db.connection() as conn:
            cursor = await conn.execute(statement, params)
            return await cursor.fetchall()

    async def _artifacts(self, source: LiteralString, params: Sequence[Any]) -> list[Artifact]:
        rows = await self._fetch(
            f"SELECT coalesce(json_agg({pg.ARTIFACT_JSON} ORDER BY seq), '[]')::text {source}", params
        )
        return _ARTIFACTS.validate_json(rows[0][0])

    async def get(self, artifact_id: UUID) -> Artifact | None:
        """The artifact with this id, or `None`."""
        found = await self.get_many([artifact_id])
        return found[0] if found else None

    async def get_many(self, artifact_ids: Sequence[UUID]) -> list[Artifact]:
        """The artifacts with these ids, in order, skipping missing ones."""
        if not artifact_ids:
            return []
        found = {a.id: a for a in await self._artifacts("FROM artifacts WHERE id = ANY(%s)", [list(artifact_ids)])}
        return [found[i] for i in artifact_ids if i in found]

    async def query(self, query: ArtifactQuery) -> ArtifactPage:
        """Artifacts matching `query`, oldest first (filters in SQL, then visibility rules in Python)."""
        where, params = pg.where(query)
        if query.visible_to is None:
            page = f"SELECT * FROM artifacts{where} ORDER BY seq LIMIT %s OFFSET %s"
            rows = await self._fetch(
                f"SELECT (SELECT count(*) FROM artifacts{where}), "
                f"(SELECT coalesce(json_agg({pg.ARTIFACT_JSON} ORDER BY seq), '[]')::text FROM ({page}) p)",
                [*params, *params, query.limit, query.offset],
            )
            items = tuple(_ARTIFACTS.validate_json(rows[0][1]))
            return ArtifactPage(items=items, total=int(rows[0][0]), offset=query.offset)
        now = query.now or utcnow()
        found = [a for a in await self._artifacts(f"FROM artifacts{where}", params) if matches(a, query, now)]
        end = None if query.limit is None else query.offset + query.limit
        return ArtifactPage(items=tuple(found[query.offset : end]), total=len(found), offset=query.offset)

    async def get_by_type(
        self, model: type[M], *, correlation_id: str | None = None, type_name: str | None = None
    ) -> list[M]:
        """Payloads of `model`'s type (optionally in one workflow) as `model` instances."""
        sql = "SELECT payload::text FROM artifacts WHERE type = %s"
        params: list[Any] = [type_name or type_name_of(model)]
        if correlation_id is not None:
            sql += " AND correlation_id = %s"
            params.append(correlation_id)
        return [model.model_validate_json(row[0]) for row in await self._fetch(sql + " ORDER BY seq", params)]

    async def record_consumption(self, agent: str, artifact_ids: Sequence[UUID]) -> None:
        """Deprecated: commit `Commit(consumed=...)` instead (the consumption then lands with its step)."""
        warnings.warn(RECORD_CONSUMPTION_DEPRECATED, DeprecationWarning, stacklevel=2)
        if artifact_ids:
            await self._fetch(pg.CONSUME + " RETURNING 1", ([agent] * len(artifact_ids), list(artifact_ids)))

    async def consumers_of(self, artifact_id: UUID) -> frozenset[str]:
        """Deprecated: read `consumed_pairs()` instead."""
        warnings.warn(CONSUMERS_OF_DEPRECATED, DeprecationWarning, stacklevel=2)
        rows = await self._fetch("SELECT agent FROM consumptions WHERE artifact_id = %s", (artifact_id,))
        return frozenset(row[0] for row in rows)

    async def consumed_pairs(self) -> set[tuple[str, UUID]]:
        """Every consumption record."""
        return {(row[0], row[1]) for row in await self._fetch("SELECT agent, artifact_id FROM consumptions")}

    async def lease(self, key: str, owner: str, until: datetime) -> WorkRecord | None:
        """Lease a pending work item, one whose lease expired, or one `owner` already holds."""
        rows = await self._fetch(pg.LEASE, {"key": key, "owner": owner, "until": until})
        return codec.row_work(rows[0]) if rows else None

    async def release(self, keys: Sequence[str]) -> None:
        """Return leased items to pending (their owner is gone)."""
        sql = "UPDATE work_items SET status = 'pending', lease_owner = NULL, lease_until = NULL "
        await self._change(sql + "WHERE key = ANY(%s) AND status = 'leased' RETURNING 1", (list(keys),))

    async def _change(self, statement: LiteralString, params: Sequence[Any]) -> int:
        """One `UPDATE ... RETURNING` and a change notification, in one transaction; returns the rows changed."""
        db = await self._open()
        async with db.transaction() as conn:
            changed = len(await (await conn.execute(statement, params)).fetchall())
            if changed:
                await self._notify(conn)
            return changed

    async def work(
        self, statuses: Collection[WorkStatus] | None = None, *, correlation_id: str | None = None
    ) -> list[WorkRecord]:
        """Work items in insertion order, optionally filtered by status and workflow."""
        sql = f"SELECT {pg.WORK_COLUMNS} FROM work_items WHERE true"
        params: list[Any] = []
        if statuses is not None:
            sql += " AND status = ANY(%s)"
            params.append(sorted(set(statuses)))
        if correlation_id is not None:
            sql += " AND correlation_id = %s"
            params.append(correlation_id)
        return [codec.row_work(row) for row in await self._fetch(sql + " ORDER BY seq", params)]

    async def requeue(self, key: str) -> bool:
        """Put a failed item back to pending (attempts reset)."""
        sql = "UPDATE work_items SET status = 'pending', attempts = 0, lease_owner = NULL, lease_until = NULL, "
        sql += "retry_at = NULL "
        return await self._change(sql + "WHERE key = %s AND status = 'failed' RETURNING 1", (key,)) == 1

    async def cancel_workflow(self, correlation_id: str, reason: str) -> list[WorkRecord]:
        """Mark the workflow cancelled and its unfinished work items `cancelled`, in one transaction.

        It takes the sequence lock that enqueuing takes, so work a router enqueues concurrently is either
        cancelled here or stored as cancelled.
        """
        db = await self._open()
        async with db.transaction() as conn:
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (self._seq_key,))
            await conn.execute(
                "INSERT INTO cancelled_workflows (correlation_id, reason) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                (correlation_id, reason),
            )
            rows = await (await conn.execute(pg.CANCEL_WORK, (correlation_id,))).fetchall()
            await conn.execute(pg.CANCEL_WORK_UPDATE, (correlation_id,))
            await self._notify(conn)
        return [codec.row_work(row) for row in rows]

    async def cancelled_workflows(self) -> dict[str, str]:
        """Every cancelled workflow with its reason."""
        rows = await self._fetch("SELECT correlation_id, reason FROM cancelled_workflows")
        return {str(row[0]): str(row[1]) for row in rows}

    async def pause_workflow(self, correlation_id: str | None, paused: bool) -> None:
        """Pause or resume one workflow, or the whole board (`None`: the row `'*'`)."""
        key = "*" if correlation_id is None else correlation_id
        if paused:
            await self._change("INSERT INTO paused_workflows VALUES (%s) ON CONFLICT DO NOTHING RETURNING 1", (key,))
        else:
            await self._change(pg.RESUME, (key,))

    async def paused_workflows(self) -> frozenset[str | None]:
        """The paused workflows (`None`: the whole board)."""
        rows = await self._fetch("SELECT correlation_id FROM paused_workflows")
        return frozenset(None if row[0] == "*" else str(row[0]) for row in rows)

    async def approvals(
        self, status: ApprovalStatus | None = "pending", *, correlation_id: str | None = None
    ) -> list[ApprovalRequest]:
        """Approval requests in the order they were held, optionally by status and workflow."""
        db = await self._open()
        async with db.connection() as conn:
            return await approvals.select(conn, status, correlation_id, None)

    async def approval(self, approval_id: str) -> ApprovalRequest | None:
        """The approval request with this id, or `None`."""
        db = await self._open()
        async with db.connection() as conn:
            found = await approvals.select(conn, None, None, approval_id)
        return found[0] if found else None

    async def save_budget(self, correlation_id: str, budget: Budget, started_at: datetime) -> None:
        """Set the workflow's budget, keeping its start and spending if it had one."""
        await self._execute(
            "INSERT INTO workflow_budgets (correlation_id, budget, started_at) VALUES (%s, %s::jsonb, %s) "
            "ON CONFLICT ((coalesce(tenant_id, '')), correlation_id) DO UPDATE SET budget = excluded.budget",
            (correlation_id, budget_json(budget), started_at),
        )

    async def add_spending(self, correlation_id: str, usage: Usage) -> None:
        """Add to the spending of a workflow with a budget, in one atomic statement."""
        await self._execute(
            "UPDATE workflow_budgets SET calls = calls + %s, input_tokens = input_tokens + %s, "
            "output_tokens = output_tokens + %s, cost = cost + %s "
            "WHERE correlation_id = %s AND tenant_id IS NOT DISTINCT FROM flock_session_tenant()",
            (*usage_row(usage), correlation_id),
        )

    async def workflow_budget(self, correlation_id: str) -> StoredBudget | None:
        """The workflow's budget and spending, if it has a budget."""
        rows = await self._fetch(_BUDGETS + " AND correlation_id = %s", (correlation_id,))
        return stored_budget(rows[0][1:]) if rows else None

    async def workflow_budgets(self) -> dict[str, StoredBudget]:
        """Every workflow with a budget."""
        return {str(row[0]): stored_budget(row[1:]) for row in await self._fetch(_BUDGETS)}

    async def _execute(self, statement: LiteralString, params: Sequence[Any]) -> None:
        db = await self._open()
        async with db.transaction() as conn:
            await conn.execute(statement, params)

    async def timer_states(self) -> list[TimerState]:
        """The last tick of every timer agent."""
        rows = await self._fetch("SELECT agent, number, scheduled_at FROM timers ORDER BY seq")
        return [TimerState(row[0], row[1], row[2]) for row in rows]

    async def expired_joins(self) -> list[ExpiredJoin]:
        """Expired join records, oldest first."""
        columns = "agent, subscription, join_key, artifact_ids, types, reason, expired_at"
        rows = await self._fetch(f"SELECT {columns} FROM expired_joins ORDER BY seq")
        return [ExpiredJoin(r[0], r[1], r[2], tuple(r[3]), tuple(r[4]), r[5], r[6]) for r in rows]

    async def fingerprints(self) -> dict[str, str]:
        """Saved agent fingerprints."""
        return {row[0]: row[1] for row in await self._fetch("SELECT agent, fingerprint FROM fingerprints")}

    async def save_fingerprints(self, fingerprints: Mapping[str, str]) -> None:
        """Replace the saved agent fingerprints."""
        db = await self._open()
        async with db.transaction() as conn:  # processes starting together replace the set one after another
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (self._fingerprints_key,))
            await conn.execute("DELETE FROM fingerprints")
            await conn.execute(
                "INSERT INTO fingerprints SELECT * FROM unnest(%s::text[], %s::text[])",
                (list(fingerprints), list(fingerprints.values())),
            )

    # -- SharedQueueStore -----------------------------------------------------------------------------

    async def try_lead(self, owner: str) -> bool:
        """Become (or stay) the router by holding the board's advisory lock on a dedicated connection.

        The server releases the lock when that connection ends, so a crashed router is replaced as soon
        as its socket closes. A tenant-scoped store sees only part of the board, so it never routes.
        """
        if self._tenant is not None:
            return False
        if self._fenced:  # another process took over: report the loss once, so the caller replays on return
            self._fenced = False
            await self._drop_leader()
        elif self._leader is not None and await self._leader_alive():
            return self._leader == owner
        elif time.monotonic() - self._lead_tried >= _LEAD_RETRY_SECONDS:  # another process leads: ask now and then
            self._lead_tried = time.monotonic()
            return await self._acquire(owner)
        return False

    async def _acquire(self, owner: str) -> bool:
        db = await self._open()
        try:
            self._leader_conn = self._leader_conn or await db.connect()
            cursor = await self._leader_conn.execute("SELECT pg_try_advisory_lock(%s)", (self._lead_key,))
            if not (await cursor.fetchone() or (False,))[0]:
                return False
            await self._leader_conn.execute("UPDATE router_state SET leader = %s", (owner,))
        except psycopg.Error as exc:
            _log.warning("router lock on %r failed: %s", self, exc)
            await self._drop_leader()
            return False
        self._leader, self._leader_checked = owner, time.monotonic()
        return True

    async def _leader_alive(self) -> bool:
        """Whether the lock connection still stands (checked with a round trip at most once a second)."""
        conn = self._leader_conn
        try:
            if conn is None or conn.closed or conn.broken:
                raise psycopg.OperationalError("the router lock connection is gone")
            if time.monotonic() - self._leader_checked >= _LEADER_CHECK_SECONDS:
                await conn.execute("SELECT 1")
                self._leader_checked = time.monotonic()
        except psycopg.Error:
            await self._drop_leader()
            return False
        return True

    def _fence(self) -> None:
        self._fenced = True

    async def _drop_leader(self) -> None:
        conn, self._leader_conn, self._leader = self._leader_conn, None, None
        await close_quietly(conn)

    async def resign(self, owner: str) -> None:
        """Stop routing if `owner` routes, so another process takes over (a graceful hand-over)."""
        if self._leader == owner and self._leader_conn is not None:
            with contextlib.suppress(psycopg.Error):  # a dead connection has released the lock already
                await self._leader_conn.execute("SELECT pg_advisory_unlock(%s)", (self._lead_key,))
            await self._drop_leader()

    async def unrouted(self, after_seq: int, limit: int) -> list[tuple[int, Artifact]]:
        """Artifacts after `after_seq`, oldest first (only those this store may see)."""
        sql = f"SELECT seq, {pg.ARTIFACT_JSON}::text FROM artifacts WHERE seq > %s ORDER BY seq LIMIT %s"
        return [(row[0], Artifact.model_validate_json(row[1])) for row in await self._fetch(sql, (after_seq, limit))]

    async def commit_routing(self, commit: Commit, cursor: int, state: BoardState) -> bool:
        """Apply a routing commit and record the cursor and open groups, if this store still leads.

        A router that lost the lead (its lock connection died and another process took over) is fenced
        off: its routing (new work, timers, expired joins) is dropped, since the new router replays the
        board; the rest of the commit (outputs, the completion of a work item) is still applied.
        """
        if only_appends(commit):
            return await self._publishing.publish(commit, (cursor, state))
        db = await self._open()
        async with db.transaction() as conn:
            return await self._apply(conn, commit, (cursor, state))

    async def router_cursor(self) -> int:
        """The last routed sequence number."""
        return int((await self._fetch("SELECT routed_seq FROM router_state"))[0][0])

    async def claim(
        self, owner: str, *, limit: int, agents: Collection[str] | None, lease_until: datetime
    ) -> list[WorkRecord]:
        """Lease up to `limit` claimable items, highest priority first, skipping rows others are claiming."""
        if limit <= 0:
            return []
        names = None if agents is None else sorted(agents)
        rows = await self._fetch(pg.CLAIM, (owner, lease_until, names, names, limit))
        return [codec.row_work(row[1:]) for row in sorted(rows, key=lambda r: (-r[6], r[0]))]

    async def renew(self, keys: Sequence[str], owner: str, lease_until: datetime) -> Renewal:
        """Extend leases held by `owner`, then report the unfinished ones it no longer holds as lost.

        Both statements run in one transaction; the second sees every commit the first waited for, so an
        item that finished while its lease was being renewed is never reported lost.
        """
        if not keys:
            return Renewal()
        params = {"keys": list(keys), "owner": owner, "until": lease_until}
        db = await self._open()
        async with db.transaction() as conn:
            renewed = await conn.execute(pg.RENEW, params)
            lost = await conn.execute(pg.LOST_LEASES, params)
            renewed_keys = frozenset(str(row[0]) for row in await renewed.fetchall())
            return Renewal(renewed_keys, frozenset(str(row[0]) for row in await lost.fetchall()))

    async def board_state(self) -> BoardState:
        """Counts of what is left to do (of what this store may see)."""
        row = (await self._fetch(pg.BOARD_STATE))[0]
        return BoardState(unrouted=row[0], pending=row[1], leased=row[2], open_groups=row[3], delayed=row[4])

    async def wait_for_change(self, timeout: float) -> None:
        """Wait for a `NOTIFY` from any process's commit, or `timeout` seconds (polling if `LISTEN` fails)."""
        await (await self._open()).wait_for_notify(self._channel, timeout)

    async def close(self) -> None:
        """Close every connection (releasing the router lock); the next call reconnects."""
        db, self._db = self._db, None
        await self._drop_leader()
        if db is not None:
            await db.close()

    async def list(self) -> list[Artifact]:
        """Every artifact on the board, oldest first."""
        return [*(await self.query(ArtifactQuery())).items]
