"""The lease rule: its Python and SQL renderings agree on every combination of status, owner, expiry and retry."""

from __future__ import annotations

import itertools
import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Any, LiteralString

import pytest

from flock_core.blackboard._leases import held_by, held_by_sql, leasable_sql, may_lease, new_owner
from flock_core.blackboard._work import WorkRecord, WorkStatus

from ..conftest import PG_DSN, require_postgres

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
STATUSES: tuple[WorkStatus, ...] = ("pending", "leased", "done", "failed")
OWNERS = (None, "w1", "w2")
EXPIRIES = (None, NOW - timedelta(seconds=1), NOW, NOW + timedelta(seconds=1))

RETRIES = EXPIRIES  # a retry due before, at, after `NOW`, or none

ROWS = [
    WorkRecord(f"k{n}", "a", 0, (), "c", status=status, lease_owner=owner, lease_until=until, retry_at=retry)
    for n, (status, owner, until, retry) in enumerate(itertools.product(STATUSES, OWNERS, EXPIRIES, RETRIES))
]
ASKERS = (None, "w1", "w2")


def python_verdicts() -> dict[tuple[str | None, str], tuple[bool, bool]]:
    """`{(asker, key): (may lease, held by)}` from the Python rule."""
    return {
        (asker, r.key): (may_lease(r, asker, NOW), asker is not None and held_by(r, asker))
        for asker in ASKERS
        for r in ROWS
    }


def conditions(owner: LiteralString, now: LiteralString, asker: str | None) -> LiteralString:
    """The two rules as SQL columns for `asker` (`owner` and `now` are the dialect's named placeholders)."""
    leasable = leasable_sql(owner=None if asker is None else owner, now=now)
    held = "false" if asker is None else held_by_sql(owner)
    return f"{leasable}, {held}"


def test_the_rule_in_sql_matches_the_rule_in_python_on_sqlite() -> None:
    db = sqlite3.connect(":memory:")
    db.execute(
        "CREATE TABLE work_items (key TEXT, status TEXT, lease_owner TEXT, lease_until INTEGER, retry_at INTEGER)"
    )
    micros = {None: None} | {t: int(t.timestamp() * 1e6) for t in EXPIRIES if t is not None}
    db.executemany(
        "INSERT INTO work_items VALUES (?, ?, ?, ?, ?)",
        [(r.key, r.status, r.lease_owner, micros[r.lease_until], micros[r.retry_at]) for r in ROWS],
    )
    found: dict[tuple[str | None, str], tuple[bool, bool]] = {}
    for asker in ASKERS:
        columns = conditions(":owner", ":now", asker)
        params: dict[str, Any] = {"owner": asker, "now": micros[NOW]}
        rows = db.execute(f"SELECT key, {columns} FROM work_items", params).fetchall()
        found |= {(asker, key): (bool(a), bool(b)) for key, a, b in rows}

    db.close()
    assert found == python_verdicts()
    assert sum(may for may, _ in found.values()) > 0
    assert sum(held for _, held in found.values()) > 0


@pytest.mark.postgres
def test_the_rule_in_sql_matches_the_rule_in_python_on_postgres() -> None:
    require_postgres()
    import psycopg

    found: dict[tuple[str | None, str], tuple[bool, bool]] = {}
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(
            "CREATE TEMP TABLE work_items "
            "(key TEXT, status TEXT, lease_owner TEXT, lease_until TIMESTAMPTZ, retry_at TIMESTAMPTZ)"
        )
        with conn.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO work_items VALUES (%s, %s, %s, %s, %s)",
                [(r.key, r.status, r.lease_owner, r.lease_until, r.retry_at) for r in ROWS],
            )
        for asker in ASKERS:
            columns = conditions("%(owner)s", "%(now)s", asker)
            rows = conn.execute(f"SELECT key, {columns} FROM work_items", {"owner": asker, "now": NOW})
            found |= {(asker, key): (bool(a), bool(b)) for key, a, b in rows.fetchall()}

    assert found == python_verdicts()


def test_owner_tokens_are_unique_and_name_their_process() -> None:
    first, second = new_owner(), new_owner()
    host, pid, token = first.split("/")
    assert (first != second, pid.isdigit(), len(token)) == (True, True, 16)
    assert host
