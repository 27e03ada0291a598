"""Publishes on PostgreSQL: one statement each, concurrent ones grouped into one transaction.

The contract suite (`test_store.py`) and `test_store.py` here cover what a publish stores; these tests
cover the grouping: who is written with whom, what fails alone, and the router's state.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import anyio
import psycopg
import pytest

from flock_core import Artifact
from flock_core.blackboard._shared import BoardState
from flock_core.blackboard._work import Commit
from flock_core.blackboard.postgres._publishing import Publishing, only_appends
from flock_core.blackboard.postgres._statements import INSERT_ARTIFACT
from flock_core.blackboard.postgres._store import PostgresBlackboardStore
from flock_core.exceptions import StoreError

from ...conftest import PG_DSN
from .test_store import eventually_leads, item, note, stores

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]


@pytest.fixture
def groups(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The size of every group `Publishing` writes."""
    sizes: list[int] = []
    write = Publishing._write  # pyright: ignore[reportPrivateUsage]

    async def spy(self: Publishing, group: list[Any]) -> None:
        sizes.append(len(group))
        await write(self, group)

    monkeypatch.setattr(Publishing, "_write", spy)
    return sizes


def test_only_commits_that_just_add_artifacts_are_publishes() -> None:
    one = note("1")
    assert only_appends(Commit(artifacts=(one,)))
    assert not only_appends(Commit())
    assert not only_appends(Commit(artifacts=(one,), enqueue=(item("k", one),)))
    assert not only_appends(Commit(artifacts=(one,), complete="k"))


async def test_concurrent_publishes_are_written_together_and_all_land(pg_schema: str, groups: list[int]) -> None:
    async with stores(pg_schema, 1) as (store,):
        published = [note(str(i)) for i in range(10)]
        landed = await asyncio.gather(*(store.commit(Commit(artifacts=(a,))) for a in published))
        stored = await store.unrouted(0, 100)
    assert landed == [True] * 10
    assert sorted(a.id for _, a in stored) == sorted(a.id for a in published)
    assert sum(groups) == 10
    assert max(groups) > 1, "publishes that wait for a write go together in the next one"


AWKWARD = 'quotes " and \\ backslashes, {braces}, commas, NULL, ünïcødé, a tab\t and a newline\n'


async def test_what_a_publish_stores_is_what_was_published_alone_or_in_a_group(pg_schema: str) -> None:
    # One artifact goes as a JSON parameter, a group's as an array of them: both store the text exactly.
    async with stores(pg_schema, 1) as (store,):
        alone = note(AWKWARD, tags=frozenset({"a,b", '"q"'}))
        together = [note(AWKWARD + str(i)) for i in range(3)]
        await store.commit(Commit(artifacts=(alone,)))
        await store.commit(Commit(artifacts=tuple(together)))
        await store.append(note(AWKWARD + "appended"))
        stored = [a for _, a in await store.unrouted(0, 100)]
    assert stored[0] == alone
    assert stored[1:4] == together
    assert stored[4].payload == {"text": AWKWARD + "appended"}


async def test_one_bad_publish_in_a_group_fails_alone(pg_schema: str, groups: list[int]) -> None:
    async with stores(pg_schema, 1) as (store,):
        taken = note("taken")
        await store.commit(Commit(artifacts=(taken,)))
        before, after = note("before"), note("after")
        duplicate = Artifact.model_validate(taken.model_dump() | {"payload": {"text": "again"}})
        results = await asyncio.gather(
            *(store.commit(Commit(artifacts=(a,))) for a in (before, duplicate, after)), return_exceptions=True
        )
        assert results[0] is True
        assert results[2] is True
        assert isinstance(results[1], StoreError)
        assert "already stored" in str(results[1])
        assert [a.id for _, a in await store.unrouted(0, 10)] == [taken.id, before.id, after.id]
        assert await store.get(taken.id) == taken
    failed = next(i for i, size in enumerate(groups) if size > 1)  # the group with the duplicate in it
    assert groups[failed + 1 : failed + 1 + groups[failed]] == [1] * groups[failed], "then one at a time"


async def test_the_router_publishes_with_its_state_until_it_loses_the_lead(pg_schema: str) -> None:
    async with stores(pg_schema, 3) as (stale, fresh, admin):
        assert await stale.try_lead("stale")
        first = note("first")
        assert await stale.commit_routing(Commit(artifacts=(first,)), 5, BoardState(0, 0, 0, 2, 1))
        assert (await admin.router_cursor(), (await admin.board_state()).open_groups) == (5, 2)
        assert stale._leader_conn is not None  # pyright: ignore[reportPrivateUsage]
        await admin._fetch("SELECT pg_terminate_backend(%s)", (stale._leader_conn.info.backend_pid,))  # pyright: ignore[reportPrivateUsage]
        assert await eventually_leads(fresh, "fresh")
        late = note("late")
        assert await stale.commit_routing(Commit(artifacts=(late,)), 99, BoardState(0, 0, 0, 7))
        assert await admin.get(late.id) == late, "a publish is kept"
        assert (await admin.router_cursor(), (await admin.board_state()).open_groups) == (5, 2), "its state is not"
        assert not await stale.try_lead("stale"), "the loss is reported, so the old router replays if it returns"


def test_a_store_publishes_from_one_event_loop_after_another(pg_schema: str) -> None:
    store = PostgresBlackboardStore(PG_DSN, schema=pg_schema)
    published = [note("first"), note("second")]

    async def publish(artifact: Artifact) -> list[Artifact]:
        assert await store.commit(Commit(artifacts=(artifact,)))
        return [a for _, a in await store.unrouted(0, 10)]

    async def close() -> None:
        await store.close()

    assert asyncio.run(publish(published[0])) == published[:1]
    assert asyncio.run(publish(published[1])) == published
    asyncio.run(close())


async def test_a_cancelled_publish_is_written_whole_and_a_group_it_leads_lands_for_everyone(
    pg_schema: str, groups: list[int]
) -> None:
    # Another session holds the sequence lock (so the first write waits on the server), then an uncommitted
    # row with `other`'s id (so the group's write waits on the unique index) while the writers are cancelled.
    async with stores(pg_schema, 1) as (store,):
        await store.commit(Commit(artifacts=(note("first"),)))  # opens the pool (and migrates) first
        published = {name: note(name) for name in ("alone", "leader", "other")}
        async with await psycopg.AsyncConnection.connect(PG_DSN, options=f"-c search_path={pg_schema}") as held:
            await held.execute("SELECT pg_advisory_lock(%s)", (store._seq_key,))  # pyright: ignore[reportPrivateUsage]
            await held.execute(INSERT_ARTIFACT, (published["other"].model_dump_json(),))
            results: dict[str, bool] = {}
            scopes = {name: anyio.CancelScope() for name in published}

            async def publish(name: str) -> None:
                with scopes[name]:
                    results[name] = await store.commit(Commit(artifacts=(published[name],)))

            async def until(condition: Callable[[], bool]) -> None:
                for _ in range(1000):  # 10 s at most
                    if condition():
                        return
                    await anyio.sleep(0.01)
                raise AssertionError("the publishes never got there")

            async with anyio.create_task_group() as tasks:
                tasks.start_soon(publish, "alone")  # a group of its own, waiting for the lock
                await until(lambda: len(groups) == 2)
                tasks.start_soon(publish, "leader")
                tasks.start_soon(publish, "other")
                await until(lambda: len(store._publishing._queue) == 2)  # pyright: ignore[reportPrivateUsage]
                scopes["alone"].cancel()  # mid-write: the write goes on
                await held.execute("SELECT pg_advisory_unlock(%s)", (store._seq_key,))  # pyright: ignore[reportPrivateUsage]
                await until(lambda: groups[-1] == 2)  # `leader` writes itself and `other`, waiting on the index
                scopes["leader"].cancel()  # it writes for `other` too: the write goes on
                await anyio.sleep(0.1)
                await held.rollback()
        stored = [a.payload["text"] for _, a in await store.unrouted(0, 100)]
    assert stored == ["first", "alone", "leader", "other"]
    assert results.get("other") is True, "the caller whose publish another task wrote gets its result"
    assert groups[-2:] == [1, 2]
