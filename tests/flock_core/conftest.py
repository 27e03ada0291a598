"""PostgreSQL fixtures: a fresh schema per test on the server named by `FLOCK_PG_DSN`.

Without a reachable server the PostgreSQL tests are skipped with the reason, except under CI (`CI` set),
where they fail: CI must never skip them silently.
"""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from flock_core.blackboard.postgres._store import PostgresBlackboardStore

PG_DSN = os.environ.get("FLOCK_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")

collect_ignore = ["workers"]  # helper programs run in child processes, not test modules


@functools.cache
def _postgres_problem() -> str | None:
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (pip install -e '.[postgres]')"
    try:
        with psycopg.connect(PG_DSN, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return f"PostgreSQL at FLOCK_PG_DSN={PG_DSN!r} is unreachable: {exc}".strip()
    return None


def require_postgres() -> None:
    """Skip the calling test without a PostgreSQL server; fail instead under CI."""
    problem = _postgres_problem()
    if problem is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI needs PostgreSQL: {problem}")
    pytest.skip(problem)


def new_schema() -> str:
    """A schema name no other test uses."""
    return f"flock_test_{uuid.uuid4().hex[:12]}"


def drop_schema(schema: str) -> None:
    """Drop `schema` and everything in it."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def postgres_store() -> PostgresBlackboardStore:
    """The contract suite's factory: a store on a fresh schema, dropped when the store is closed."""
    require_postgres()
    from flock_core.blackboard.postgres._store import PostgresBlackboardStore

    class TempPostgresStore(PostgresBlackboardStore):
        async def close(self) -> None:
            await super().close()
            drop_schema(self.schema)

    return TempPostgresStore(PG_DSN, schema=new_schema())


@pytest.fixture
def pg_schema() -> Iterator[str]:
    """A fresh schema name on the test server (created by the first store that uses it), dropped after."""
    require_postgres()
    schema = new_schema()
    yield schema
    drop_schema(schema)
