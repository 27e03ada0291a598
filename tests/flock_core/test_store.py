"""The blackboard store contract: one suite that every backend must pass.

Backends are added by appending a factory to `STORE_FACTORIES`; a factory may be sync or async and
may carry marks (for example `pytest.mark.postgres`).
"""

from __future__ import annotations

import inspect
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import BaseModel

from flock_core import (
    AfterVisibility,
    AgentIdentity,
    Artifact,
    ArtifactPage,
    ArtifactQuery,
    BlackboardStore,
    InMemoryBlackboardStore,
    LabelledVisibility,
    PrivateVisibility,
)
from flock_core._ids import new_id
from flock_core.exceptions import StoreError

pytestmark = pytest.mark.anyio

StoreFactory = Callable[[], BlackboardStore | Awaitable[BlackboardStore]]

STORE_FACTORIES: list[Any] = [
    pytest.param(InMemoryBlackboardStore, id="memory"),
]
"""`pytest.param(factory, id=..., marks=...)` per backend; append SQLite and PostgreSQL here."""

T0 = datetime(2026, 1, 1, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


class Note(BaseModel):
    text: str


class Task(BaseModel):
    title: str
    done: bool = False


async def make_store(factory: StoreFactory) -> BlackboardStore:
    made = factory()
    return await made if inspect.isawaitable(made) else made


@pytest.fixture(params=STORE_FACTORIES)
def store_factory(request: pytest.FixtureRequest) -> StoreFactory:
    return request.param


@pytest.fixture
async def store(store_factory: StoreFactory) -> AsyncIterator[BlackboardStore]:
    made = await make_store(store_factory)
    yield made
    await made.close()


def note(text: str, *, minutes: int = 0, **fields: Any) -> Artifact:
    fields.setdefault("correlation_id", "c1")
    return Artifact(type="Note", payload={"text": text}, created_at=T0 + minutes * MINUTE, **fields)


def task(title: str, *, minutes: int = 0, **fields: Any) -> Artifact:
    fields.setdefault("correlation_id", "c1")
    return Artifact(type="Task", payload={"title": title, "done": False}, created_at=T0 + minutes * MINUTE, **fields)


async def append_all(store: BlackboardStore, *artifacts: Artifact) -> list[int]:
    return [await store.append(a) for a in artifacts]


async def texts(store: BlackboardStore, query: ArtifactQuery) -> list[str]:
    page = await store.query(query)
    return [str(a.payload.get("text", a.payload.get("title"))) for a in page.items]


async def test_append_returns_strictly_increasing_sequence_numbers(store: BlackboardStore) -> None:
    seqs = await append_all(store, *(note(str(i), minutes=i) for i in range(5)))
    assert all(a < b for a, b in itertools.pairwise(seqs))
    assert len(set(seqs)) == 5


async def test_append_of_a_stored_id_is_rejected(store: BlackboardStore) -> None:
    first = note("first")
    await store.append(first)
    again = first.model_copy(update={"payload": {"text": "changed"}})
    with pytest.raises(StoreError, match=str(first.id)):
        await store.append(again)
    assert await store.get(first.id) == first
    assert (await store.query(ArtifactQuery())).total == 1


async def test_get(store: BlackboardStore) -> None:
    stored = note("hello", tags=frozenset({"x"}), produced_by="writer", consumed_from=(new_id(),))
    await store.append(stored)
    assert await store.get(stored.id) == stored
    assert await store.get(new_id()) is None


async def test_query_everything_oldest_first(store: BlackboardStore) -> None:
    artifacts = [note("a"), task("b", minutes=1), note("c", minutes=2)]
    await append_all(store, *artifacts)
    assert await store.query(ArtifactQuery()) == ArtifactPage(items=tuple(artifacts), total=3, offset=0)


async def test_query_an_empty_store(store: BlackboardStore) -> None:
    page = await store.query(ArtifactQuery())
    assert (page, page.next_offset) == (ArtifactPage(items=(), total=0, offset=0), None)


async def test_query_by_types(store: BlackboardStore) -> None:
    await append_all(store, note("n1"), task("t1", minutes=1), note("n2", minutes=2))
    assert await texts(store, ArtifactQuery(types=frozenset({"Note"}))) == ["n1", "n2"]
    assert await texts(store, ArtifactQuery(types=frozenset({"Task"}))) == ["t1"]
    assert await texts(store, ArtifactQuery(types=frozenset({"Note", "Task"}))) == ["n1", "t1", "n2"]
    assert await texts(store, ArtifactQuery(types=frozenset({"Other"}))) == []
    assert await texts(store, ArtifactQuery(types=frozenset())) == []


async def test_query_by_producer(store: BlackboardStore) -> None:
    await append_all(
        store,
        note("ext"),
        note("w", minutes=1, produced_by="writer"),
        note("e", minutes=2, produced_by="editor"),
    )
    assert await texts(store, ArtifactQuery(produced_by=frozenset({"writer"}))) == ["w"]
    assert await texts(store, ArtifactQuery(produced_by=frozenset({"writer", "external"}))) == ["ext", "w"]


async def test_query_by_correlation_id(store: BlackboardStore) -> None:
    await append_all(
        store,
        note("a1", correlation_id="a"),
        task("b1", minutes=1, correlation_id="b"),
        note("a2", minutes=2, correlation_id="a"),
        task("a3", minutes=3, correlation_id="a"),
    )
    assert await texts(store, ArtifactQuery(correlation_id="a")) == ["a1", "a2", "a3"]
    assert await texts(store, ArtifactQuery(correlation_id="a", types=frozenset({"Task"}))) == ["a3"]
    assert await texts(store, ArtifactQuery(correlation_id="missing")) == []


async def test_query_by_tags_requires_all_of_them(store: BlackboardStore) -> None:
    await append_all(
        store,
        note("none"),
        note("red", minutes=1, tags=frozenset({"red"})),
        note("red+big", minutes=2, tags=frozenset({"red", "big"})),
        note("big", minutes=3, tags=frozenset({"big"})),
    )
    assert await texts(store, ArtifactQuery(tags=frozenset({"red"}))) == ["red", "red+big"]
    assert await texts(store, ArtifactQuery(tags=frozenset({"red", "big"}))) == ["red+big"]
    assert await texts(store, ArtifactQuery(tags=frozenset())) == ["none", "red", "red+big", "big"]


async def test_query_by_time_since_inclusive_until_exclusive(store: BlackboardStore) -> None:
    await append_all(store, *(note(str(i), minutes=i) for i in range(5)))
    assert await texts(store, ArtifactQuery(since=T0 + 2 * MINUTE)) == ["2", "3", "4"]
    assert await texts(store, ArtifactQuery(until=T0 + 2 * MINUTE)) == ["0", "1"]
    assert await texts(store, ArtifactQuery(since=T0 + MINUTE, until=T0 + 3 * MINUTE)) == ["1", "2"]
    assert await texts(store, ArtifactQuery(since=T0 + 30 * MINUTE)) == []


async def test_query_filters_combine(store: BlackboardStore) -> None:
    await append_all(
        store,
        note("match", minutes=1, produced_by="w", tags=frozenset({"x"})),
        note("wrong-producer", minutes=2, tags=frozenset({"x"})),
        note("wrong-tags", minutes=3, produced_by="w"),
        task("wrong-type", minutes=4, produced_by="w", tags=frozenset({"x"})),
        note("wrong-correlation", minutes=5, produced_by="w", tags=frozenset({"x"}), correlation_id="c2"),
    )
    query = ArtifactQuery(
        types=frozenset({"Note"}), produced_by=frozenset({"w"}), tags=frozenset({"x"}), correlation_id="c1"
    )
    assert await texts(store, query) == ["match"]


async def test_query_visible_to_hides_private_artifacts(store: BlackboardStore) -> None:
    await append_all(
        store,
        note("public"),
        note("for-alice", minutes=1, visibility=PrivateVisibility(agents=frozenset({"alice"}))),
        note("labelled", minutes=2, visibility=LabelledVisibility(required_labels=frozenset({"ops"}))),
    )
    alice, bob = AgentIdentity("alice"), AgentIdentity("bob", labels=frozenset({"ops"}))
    later = T0 + 10 * MINUTE
    assert await texts(store, ArtifactQuery(visible_to=alice, now=later)) == ["public", "for-alice"]
    assert await texts(store, ArtifactQuery(visible_to=bob, now=later)) == ["public", "labelled"]
    assert await texts(store, ArtifactQuery()) == ["public", "for-alice", "labelled"]


async def test_query_visible_to_respects_a_delay_at_now(store: BlackboardStore) -> None:
    await append_all(store, note("delayed", visibility=AfterVisibility(ttl=5 * MINUTE)), note("now", minutes=1))
    anyone = AgentIdentity("anyone")
    assert await texts(store, ArtifactQuery(visible_to=anyone, now=T0 + 4 * MINUTE)) == ["now"]
    assert await texts(store, ArtifactQuery(visible_to=anyone, now=T0 + 5 * MINUTE)) == ["delayed", "now"]


async def test_query_visible_to_defaults_to_the_current_time(store: BlackboardStore) -> None:
    recent = Artifact(
        type="Note", payload={"text": "recent"}, correlation_id="c1", visibility=AfterVisibility(ttl=timedelta(days=1))
    )
    await append_all(store, note("old", visibility=AfterVisibility(ttl=MINUTE)), recent)
    assert await texts(store, ArtifactQuery(visible_to=AgentIdentity("anyone"))) == ["old"]


async def test_paging_oldest_first(store: BlackboardStore) -> None:
    artifacts = [note(str(i), minutes=i) for i in range(5)]
    await append_all(store, *artifacts)

    first = await store.query(ArtifactQuery(limit=2))
    second = await store.query(ArtifactQuery(offset=2, limit=2))
    last = await store.query(ArtifactQuery(offset=4, limit=2))
    beyond = await store.query(ArtifactQuery(offset=9, limit=2))

    assert (first, first.next_offset) == (ArtifactPage(items=tuple(artifacts[0:2]), total=5, offset=0), 2)
    assert (second, second.next_offset) == (ArtifactPage(items=tuple(artifacts[2:4]), total=5, offset=2), 4)
    assert (last, last.next_offset) == (ArtifactPage(items=(artifacts[4],), total=5, offset=4), None)
    assert (beyond, beyond.next_offset) == (ArtifactPage(items=(), total=5, offset=9), None)


async def test_paging_counts_only_matches(store: BlackboardStore) -> None:
    await append_all(store, *(note(str(i), minutes=2 * i) for i in range(4)))
    await append_all(store, *(task(str(i), minutes=2 * i + 1) for i in range(4)))
    page = await store.query(ArtifactQuery(types=frozenset({"Task"}), offset=1, limit=2))
    assert ([a.payload["title"] for a in page.items], page.total, page.offset, page.next_offset) == (
        ["1", "2"],
        4,
        1,
        3,
    )


async def test_paging_walks_every_artifact_once(store: BlackboardStore) -> None:
    artifacts = [note(str(i), minutes=i) for i in range(7)]
    await append_all(store, *artifacts)
    seen: list[Artifact] = []
    offset: int | None = 0
    while offset is not None:
        page = await store.query(ArtifactQuery(offset=offset, limit=3))
        seen.extend(page.items)
        offset = page.next_offset
    assert seen == artifacts


async def test_get_by_type_returns_typed_models(store: BlackboardStore) -> None:
    await append_all(
        store,
        task("a", correlation_id="x"),
        note("n", minutes=1, correlation_id="x"),
        task("b", minutes=2, correlation_id="y"),
    )
    assert await store.get_by_type(Task) == [Task(title="a"), Task(title="b")]
    assert await store.get_by_type(Note) == [Note(text="n")]
    assert await store.get_by_type(Task, correlation_id="y") == [Task(title="b")]
    assert await store.get_by_type(Task, correlation_id="none") == []


async def test_get_by_type_of_an_absent_type(store: BlackboardStore) -> None:
    class Absent(BaseModel):
        pass

    assert await store.get_by_type(Absent) == []


async def test_record_consumption_and_consumers_of(store: BlackboardStore) -> None:
    first, second = note("1"), note("2", minutes=1)
    await append_all(store, first, second)
    await store.record_consumption("writer", [first.id, second.id])
    await store.record_consumption("editor", [first.id])
    await store.record_consumption("writer", [first.id])
    assert await store.consumers_of(first.id) == frozenset({"writer", "editor"})
    assert await store.consumers_of(second.id) == frozenset({"writer"})
    assert await store.consumers_of(new_id()) == frozenset()


async def test_close(store_factory: StoreFactory) -> None:
    made = await make_store(store_factory)
    await made.append(note("x"))
    await made.close()
