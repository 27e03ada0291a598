"""The SQL statements the PostgreSQL store runs, and the `WHERE` clause of an artifact query.

The lease rule inside `LEASE` and `CLAIM` is rendered from `flock_core.blackboard._leases`, the one
definition every backend shares.
"""

from __future__ import annotations

from typing import Any, LiteralString

from .._leases import held_by_sql, leasable_sql
from .._store import ArtifactQuery

__all__ = [
    "ARTIFACT_JSON",
    "BOARD_STATE",
    "CANCEL_WORK",
    "CANCEL_WORK_UPDATE",
    "CLAIM",
    "CONSUME",
    "ENQUEUE",
    "INSERT_ARTIFACT",
    "INSERT_ARTIFACTS",
    "INSERT_EXPIRED",
    "LEASE",
    "LOST_LEASES",
    "PAUSED",
    "PUBLISH",
    "PUBLISH_ONE",
    "PUBLISH_ROUTED",
    "PUBLISH_ROUTED_ONE",
    "RENEW",
    "RESUME",
    "UPSERT_TIMERS",
    "WORK_COLUMNS",
    "where",
]

ARTIFACT_JSON = """json_build_object(
    'id', id, 'type', type, 'payload', payload, 'produced_by', produced_by, 'correlation_id', correlation_id,
    'partition_key', partition_key, 'tags', tags, 'visibility', visibility, 'created_at', created_at,
    'version', version, 'consumed_from', consumed_from, 'trace_context', trace_context)"""
"""A SQL expression rebuilding an artifact row as the JSON that `Artifact` validates."""

_INSERT_ROWS = """
INSERT INTO artifacts (id, type, produced_by, correlation_id, partition_key, tags, visibility, created_at,
                       version, payload, consumed_from, trace_context)
SELECT (j->>'id')::uuid, j->>'type', j->>'produced_by', j->>'correlation_id', j->>'partition_key',
       ARRAY(SELECT jsonb_array_elements_text(j->'tags')), j->'visibility', (j->>'created_at')::timestamptz,
       (j->>'version')::int, j->'payload', ARRAY(SELECT jsonb_array_elements_text(j->'consumed_from'))::uuid[],
       j->'trace_context'
FROM """
_IN_ORDER: LiteralString = "unnest(%s::jsonb[]) WITH ORDINALITY AS t(j, n) ORDER BY n RETURNING seq"
_ONE: LiteralString = "(SELECT %s::jsonb) AS t(j) RETURNING seq"
# One artifact as a scalar parameter: the driver sends its JSON as is, instead of quoting it as an array
# element (about a seventh of a one-artifact publish's client time).

INSERT_ARTIFACTS = _INSERT_ROWS + _IN_ORDER
"""Insert artifacts (a JSON array parameter), in order; returns their sequence numbers."""

INSERT_ARTIFACT = _INSERT_ROWS + _ONE
"""`INSERT_ARTIFACTS` for one artifact (a JSON parameter)."""


def _publish(rows: LiteralString) -> LiteralString:
    return f"""
WITH locked AS MATERIALIZED (SELECT pg_advisory_xact_lock(%s)),
     new AS ({_INSERT_ROWS}locked, {rows})
SELECT NULL::text, (SELECT count(*) FROM new), pg_notify(%s, '')"""


def _publish_routed(rows: LiteralString) -> LiteralString:
    return f"""
WITH router AS MATERIALIZED (SELECT leader FROM router_state FOR UPDATE),
     locked AS MATERIALIZED (SELECT pg_advisory_xact_lock(%s) FROM router),
     new AS ({_INSERT_ROWS}locked, {rows}),
     state AS (UPDATE router_state SET routed_seq = greatest(routed_seq, %s), open_groups = %s, delayed = %s
               WHERE leader = %s RETURNING 1)
SELECT (SELECT leader FROM router), (SELECT count(*) FROM new), pg_notify(%s, '')"""


PUBLISH = _publish(_IN_ORDER)
"""One statement, so one round trip and one implicit transaction: take the sequence lock, insert the
artifacts in order, notify. Parameters: lock key, artifacts, channel. The insert reads from `locked`,
so the lock is held before any row takes its sequence number."""

PUBLISH_ONE = _publish(_ONE)
"""`PUBLISH` of one artifact (a JSON parameter instead of an array)."""

PUBLISH_ROUTED = _publish_routed(_IN_ORDER)
"""`PUBLISH` by the router: it locks the router's state first (the order every commit takes), and records
its cursor and open groups only while the stored leader is still the given one; returns that leader.
Parameters: lock key, artifacts, cursor, open groups, delayed, leader, channel."""

PUBLISH_ROUTED_ONE = _publish_routed(_ONE)
"""`PUBLISH_ROUTED` of one artifact (a JSON parameter instead of an array)."""

PAUSED = """EXISTS (SELECT 1 FROM paused_workflows p WHERE p.correlation_id IN (work_items.correlation_id, '*')
    AND (p.tenant_id IS NULL OR p.tenant_id = work_items.tenant_id))"""
"""A work item whose workflow (or board) is paused by an operator or by its own tenant."""

WORK_COLUMNS = (
    "key, agent, subscription, input_ids, correlation_id, priority, batched, tick_number, tick_at, status, "
    "attempts, last_error, lease_owner, lease_until, retry_at"
)

ENQUEUE = f"""
WITH new AS (
    INSERT INTO work_items ({WORK_COLUMNS}, tenant_id)
    SELECT r.key, r.agent, r.subscription, string_to_array(r.inputs, ',')::uuid[], r.correlation_id, r.priority,
           r.batched, r.tick_number, r.tick_at,
           CASE WHEN EXISTS (SELECT 1 FROM cancelled_workflows c WHERE c.correlation_id = r.correlation_id
                             AND (c.tenant_id IS NULL OR c.tenant_id = t.tenant_id))
                THEN 'cancelled' ELSE r.status END,
           r.attempts, r.last_error, r.lease_owner, r.lease_until, r.retry_at, t.tenant_id
    FROM unnest(%s::text[], %s::text[], %s::int[], %s::text[], %s::text[], %s::int[], %s::bool[], %s::int[],
                %s::timestamptz[], %s::text[], %s::int[], %s::text[], %s::text[], %s::timestamptz[],
                %s::timestamptz[])
         WITH ORDINALITY AS r(key, agent, subscription, inputs, correlation_id, priority, batched, tick_number,
                              tick_at, status, attempts, last_error, lease_owner, lease_until, retry_at, n)
    CROSS JOIN LATERAL (SELECT max(a.tenant_id) AS tenant_id FROM artifacts a
                        WHERE a.id = ANY(string_to_array(r.inputs, ',')::uuid[])) t
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
      WHERE {leasable_sql(owner=None, now="now()")}
        AND (%s::text[] IS NULL OR agent = ANY(%s::text[]))
        AND NOT {PAUSED}
      ORDER BY priority DESC, seq
      LIMIT %s
      FOR UPDATE SKIP LOCKED) picked
WHERE w.key = picked.key
RETURNING w.seq, {", ".join(f"w.{c.strip()}" for c in WORK_COLUMNS.split(","))}"""
LEASE = f"""
UPDATE work_items SET status = 'leased', attempts = attempts + 1, lease_owner = %(owner)s, lease_until = %(until)s
WHERE key = %(key)s AND {leasable_sql(owner="%(owner)s", now="now()")}
  AND NOT {PAUSED}
RETURNING {WORK_COLUMNS}"""
RENEW = f"""
UPDATE work_items SET lease_until = %(until)s
WHERE key = ANY(%(keys)s) AND {held_by_sql("%(owner)s")}
RETURNING key"""
LOST_LEASES = """
SELECT key FROM work_items WHERE key = ANY(%(keys)s) AND lease_owner IS DISTINCT FROM %(owner)s"""
"""Run after `RENEW` in its transaction, so it sees every commit the renewal waited for: a key the owner
finished meanwhile (a finished item keeps its last owner) is not lost; one another owner took is."""
_OWN_WORK = "tenant_id IS NOT DISTINCT FROM coalesce(flock_session_tenant(), tenant_id)"
"""A work item of the session's own tenant (every one for an operator): what its cancellation stops."""
CANCEL_WORK = f"""
SELECT {WORK_COLUMNS} FROM work_items WHERE correlation_id = %s AND status IN ('pending', 'leased') AND {_OWN_WORK}
ORDER BY seq FOR UPDATE"""
CANCEL_WORK_UPDATE = f"""
UPDATE work_items SET status = 'cancelled', lease_owner = NULL
WHERE correlation_id = %s AND status IN ('pending', 'leased') AND {_OWN_WORK}"""
RESUME = """
DELETE FROM paused_workflows WHERE correlation_id = %s AND tenant_id IS NOT DISTINCT FROM flock_session_tenant()
RETURNING 1"""
BOARD_STATE = f"""
SELECT (SELECT count(*) FROM artifacts WHERE seq > r.routed_seq),
       (SELECT count(*) FROM work_items WHERE status = 'pending'
        AND NOT {PAUSED}),
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
        clauses.append("(tenant_id IS NULL OR tenant_id = %s)")  # '' is the space without a tenant
        params.append(identity.tenant or "")
        clauses.append("(visibility_kind <> 'private' OR visibility -> 'agents' ? %s)")
        params.append(identity.name)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params
