"""The blackboard store contract: one suite that every backend must pass.

Backends are added by appending a factory to `STORE_FACTORIES`; a factory may be sync or async and
may carry marks (for example `pytest.mark.postgres`).
"""

from __future__ import annotations

import dataclasses
import inspect
import itertools
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
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
    ExpiredJoin,
    InMemoryBlackboardStore,
    LabelledVisibility,
    PrivateVisibility,
)
from flock_core._ids import new_id
from flock_core.blackboard._shared import SharedQueueStore, shared_store
from flock_core.blackboard._store import ExclusiveBoard
from flock_core.blackboard._work import Commit, TimerState, WorkRecord
from flock_core.blackboard.sqlite._store import SQLiteBlackboardStore
from flock_core.exceptions import BoardInUseError, StoreError

from ..conftest import postgres_store

pytestmark = pytest.mark.anyio

StoreFactory = Callable[[], BlackboardStore | Awaitable[BlackboardStore]]


class TempSQLiteStore(SQLiteBlackboardStore):
    """A SQLite store on a file of its own temporary directory, removed when the store is closed."""

    def __init__(self) -> None:
        self._folder = tempfile.TemporaryDirectory(prefix="flock-store-")
        super().__init__(Path(self._folder.name) / "board.db")

    async def close(self) -> None:
        await super().close()
        self._folder.cleanup()


STORE_FACTORIES: list[Any] = [
    pytest.param(InMemoryBlackboardStore, id="memory"),
    pytest.param(TempSQLiteStore, id="sqlite"),
    pytest.param(postgres_store, id="postgres", marks=pytest.mark.postgres),
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


async def test_list_returns_every_artifact_oldest_first(store: BlackboardStore) -> None:
    assert await store.list() == []
    artifacts = [note("a"), task("b", minutes=1), note("c", minutes=2)]
    await append_all(store, *artifacts)
    assert await store.list() == artifacts


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


@pytest.mark.parametrize("method", ["record_consumption", "consumers_of"])
async def test_the_deprecated_consumption_methods_warn_and_still_work(store: BlackboardStore, method: str) -> None:
    first = note("1")
    await store.append(first)
    arguments = ("writer", [first.id]) if method == "record_consumption" else (first.id,)
    with pytest.warns(DeprecationWarning, match=rf"{method}\(\) is deprecated"):
        result = await getattr(store, method)(*arguments)
    assert result == (None if method == "record_consumption" else frozenset())
    expected = {("writer", first.id)} if method == "record_consumption" else set[tuple[str, Any]]()
    assert await store.consumed_pairs() == expected


async def test_close(store_factory: StoreFactory) -> None:
    made = await make_store(store_factory)
    await made.append(note("x"))
    await made.close()


# -- run state: commits, work items, leases, timers, expired joins, fingerprints -------------------------

PAST = datetime(2000, 1, 1, tzinfo=UTC)
FUTURE = datetime(2100, 1, 1, tzinfo=UTC)


def work_item(key: str, *inputs: Artifact, agent: str = "writer", **fields: Any) -> WorkRecord:
    fields.setdefault("correlation_id", "c1")
    return WorkRecord(key=key, agent=agent, subscription=0, input_ids=tuple(a.id for a in inputs), **fields)


def expired_join(key: str, *artifacts: Artifact) -> ExpiredJoin:
    return ExpiredJoin(
        agent="shipper",
        subscription=1,
        key=key,
        artifact_ids=tuple(str(a.id) for a in artifacts),
        types=tuple(a.type for a in artifacts),
        reason="time window of 0:05:00 elapsed",
        expired_at=T0 + 5 * MINUTE,
    )


async def enqueue(store: BlackboardStore, *records: WorkRecord) -> None:
    assert await store.commit(Commit(enqueue=records))


async def snapshot(store: BlackboardStore) -> tuple[Any, ...]:
    """Everything a commit can write, to check that a refused commit wrote nothing."""
    return (
        await store.query(ArtifactQuery()),
        await store.work(),
        await store.consumed_pairs(),
        await store.timer_states(),
        await store.expired_joins(),
    )


async def test_commit_applies_every_part(store: BlackboardStore) -> None:
    source = note("idea")
    await store.append(source)
    item = work_item("writer:1", source)
    await enqueue(store, item)
    await store.lease(item.key, "w1", FUTURE)
    draft = note("draft", minutes=1, produced_by="writer", consumed_from=(source.id,))
    follow = work_item("editor:1", draft, agent="editor", priority=2, batched=True)
    gone = expired_join("7", source)
    commit = Commit(
        artifacts=(draft,),
        enqueue=(follow,),
        complete=item.key,
        consumed=(("auditor", source.id),),
        timers=(TimerState("beat", 1, T0),),
        expired_joins=(gone,),
    )

    assert await store.commit(commit) is True

    done = dataclasses.replace(item, status="done", attempts=1, lease_owner="w1", lease_until=FUTURE)
    assert await snapshot(store) == (
        ArtifactPage(items=(source, draft), total=2, offset=0),
        [done, follow],
        {("writer", source.id), ("auditor", source.id), ("editor", draft.id)},
        [TimerState("beat", 1, T0)],
        [gone],
    )


async def test_commit_of_a_failure_records_the_error(store: BlackboardStore) -> None:
    item = work_item("writer:1")
    await enqueue(store, item)
    assert await store.commit(Commit(complete=item.key, outcome="failed", error="boom")) is True
    assert await store.work() == [dataclasses.replace(item, status="failed", last_error="boom")]


@pytest.mark.parametrize("outcome", ["done", "failed"])
async def test_second_completion_returns_false_and_writes_nothing(store: BlackboardStore, outcome: str) -> None:
    item = work_item("writer:1")
    await enqueue(store, item)
    first = Commit(artifacts=(note("first"),), complete=item.key, outcome="done" if outcome == "done" else "failed")
    assert await store.commit(first) is True
    before = await snapshot(store)
    again = Commit(
        artifacts=(note("again", minutes=1),),
        enqueue=(work_item("editor:1", agent="editor"),),
        complete=item.key,
        consumed=(("auditor", new_id()),),
        timers=(TimerState("beat", 1, T0),),
        expired_joins=(expired_join("1"),),
    )
    assert await store.commit(again) is False
    assert await snapshot(store) == before


async def test_commit_with_a_stored_artifact_id_raises_and_writes_nothing(store: BlackboardStore) -> None:
    stored = note("stored")
    await store.append(stored)
    item = work_item("writer:1", stored)
    await enqueue(store, item)
    before = await snapshot(store)
    commit = Commit(
        artifacts=(note("new", minutes=1), stored),
        enqueue=(work_item("editor:1", agent="editor"),),
        complete=item.key,
        consumed=(("auditor", stored.id),),
        timers=(TimerState("beat", 1, T0),),
        expired_joins=(expired_join("1"),),
    )
    with pytest.raises(StoreError, match=str(stored.id)):
        await store.commit(commit)
    assert await snapshot(store) == before


async def test_commit_completing_an_unknown_item_raises(store: BlackboardStore) -> None:
    with pytest.raises(StoreError, match="nowhere:1"):
        await store.commit(Commit(artifacts=(note("x"),), complete="nowhere:1"))
    assert (await store.query(ArtifactQuery())).total == 0


async def test_enqueue_is_idempotent_by_key(store: BlackboardStore) -> None:
    first, second = note("1"), note("2", minutes=1)
    await append_all(store, first, second)
    original = work_item("k", first)
    await enqueue(store, original)
    await enqueue(store, work_item("k", second, agent="editor", priority=9), work_item("other", second))
    assert await store.work() == [original, work_item("other", second)]
    assert await store.consumed_pairs() == {("writer", first.id), ("writer", second.id)}


async def test_consumption_records_come_from_enqueue_and_consumed(store: BlackboardStore) -> None:
    a, b = note("a"), note("b", minutes=1)
    await append_all(store, a, b)
    await store.commit(Commit(enqueue=(work_item("k", a, b),), consumed=(("invoked", a.id),)))
    await store.commit(Commit(consumed=(("reader", b.id),)))
    assert await store.consumed_pairs() == {("writer", a.id), ("writer", b.id), ("invoked", a.id), ("reader", b.id)}


async def test_lease_rules(store: BlackboardStore) -> None:
    item = work_item("k")
    await enqueue(store, item)

    first = await store.lease("k", "w1", FUTURE)
    assert first == dataclasses.replace(item, status="leased", attempts=1, lease_owner="w1", lease_until=FUTURE)
    assert first is not None
    assert await store.lease("k", "w2", FUTURE) is None, "held by w1 until FUTURE"
    again = await store.lease("k", "w1", FUTURE + MINUTE)
    assert again == dataclasses.replace(first, attempts=2, lease_until=FUTURE + MINUTE)
    assert await store.work() == [again]
    assert await store.lease("missing", "w1", FUTURE) is None


async def test_an_expired_lease_is_taken_over(store: BlackboardStore) -> None:
    item = work_item("k")
    await enqueue(store, item)
    await store.lease("k", "w1", PAST)
    taken = await store.lease("k", "w2", FUTURE)
    assert taken == dataclasses.replace(item, status="leased", attempts=2, lease_owner="w2", lease_until=FUTURE)


async def test_finished_items_are_not_leased(store: BlackboardStore) -> None:
    await enqueue(store, work_item("done"), work_item("failed"))
    await store.commit(Commit(complete="done"))
    await store.commit(Commit(complete="failed", outcome="failed", error="x"))
    before = await store.work()
    assert (await store.lease("done", "w1", FUTURE), await store.lease("failed", "w1", FUTURE)) == (None, None)
    assert await store.work() == before


async def test_cancelling_a_workflow_cancels_its_unfinished_work_only(store: BlackboardStore) -> None:
    pending, leased, done = work_item("pending"), work_item("leased"), work_item("done")
    other = work_item("other", correlation_id="c2")
    await enqueue(store, pending, leased, done, other)
    leased_record = await store.lease("leased", "w1", FUTURE)
    await store.lease("done", "w1", FUTURE)
    await store.commit(Commit(complete="done"))
    finished = (await store.work())[2]

    assert await store.cancel_workflow("c1", "user said stop") == [pending, leased_record]

    assert await store.work() == [
        dataclasses.replace(pending, status="cancelled"),
        dataclasses.replace(leased, status="cancelled", attempts=1, lease_until=FUTURE),
        finished,
        other,
    ]
    assert await store.cancelled_workflows() == {"c1": "user said stop"}
    assert (await store.lease("pending", "w2", FUTURE), await store.lease("leased", "w1", FUTURE)) == (None, None)
    assert await store.cancel_workflow("c1", "again") == []
    assert await store.cancelled_workflows() == {"c1": "user said stop"}, "the first reason stays"


async def test_completing_a_cancelled_item_writes_nothing(store: BlackboardStore) -> None:
    await enqueue(store, work_item("k"))
    await store.lease("k", "w1", FUTURE)
    await store.cancel_workflow("c1", "stop")
    before = await snapshot(store)

    assert await store.commit(Commit(artifacts=(note("late"),), complete="k")) is False

    assert await snapshot(store) == before


async def test_work_enqueued_into_a_cancelled_workflow_is_stored_cancelled(store: BlackboardStore) -> None:
    await store.cancel_workflow("c1", "stop")
    late, elsewhere = work_item("late"), work_item("elsewhere", correlation_id="c2")

    await enqueue(store, late, elsewhere)

    assert await store.work() == [dataclasses.replace(late, status="cancelled"), elsewhere]
    assert await store.work(("pending", "leased")) == [elsewhere]


async def test_paused_work_is_not_leased_until_resumed(store: BlackboardStore) -> None:
    mine, other = work_item("mine"), work_item("other", correlation_id="c2")
    await enqueue(store, mine, other)

    await store.pause_workflow("c1", True)
    assert await store.paused_workflows() == {"c1"}
    assert await store.lease("mine", "w1", FUTURE) is None
    assert await store.lease("other", "w1", FUTURE) is not None

    await store.pause_workflow(None, True)
    await store.pause_workflow("c1", False)
    assert await store.paused_workflows() == {None}
    assert await store.lease("mine", "w1", FUTURE) is None, "the whole board is still paused"

    await store.pause_workflow(None, False)
    assert await store.paused_workflows() == frozenset()
    assert await store.lease("mine", "w1", FUTURE) == dataclasses.replace(
        mine, status="leased", attempts=1, lease_owner="w1", lease_until=FUTURE
    )


@pytest.mark.parametrize(
    "queue_factory",
    [
        pytest.param(lambda: InMemoryBlackboardStore(shared=True), id="memory"),
        pytest.param(postgres_store, id="postgres", marks=pytest.mark.postgres),
    ],
)
async def test_paused_work_is_neither_claimed_nor_left_to_do(queue_factory: StoreFactory) -> None:
    queue = await make_store(queue_factory)
    assert isinstance(queue, SharedQueueStore)
    try:
        await enqueue(queue, work_item("mine"), work_item("other", correlation_id="c2"))
        await queue.pause_workflow("c1", True)

        assert [r.key for r in await queue.claim("w1", limit=9, agents=None, lease_until=FUTURE)] == ["other"]
        assert (await queue.board_state()).pending == 0, "paused work does not keep a board busy"

        await queue.pause_workflow("c1", False)
        assert (await queue.board_state()).pending == 1
        assert [r.key for r in await queue.claim("w1", limit=9, agents=None, lease_until=FUTURE)] == ["mine"]
    finally:
        await queue.close()


async def test_release_returns_leased_items_to_pending(store: BlackboardStore) -> None:
    leased, pending, done = work_item("leased"), work_item("pending"), work_item("done")
    await enqueue(store, leased, pending, done)
    await store.lease("leased", "w1", FUTURE)
    await store.lease("done", "w1", FUTURE)
    await store.commit(Commit(complete="done"))
    finished = (await store.work())[2]

    await store.release(["leased", "pending", "done", "missing"])

    assert await store.work() == [dataclasses.replace(leased, attempts=1), pending, finished]
    assert await store.lease("leased", "w2", FUTURE) == dataclasses.replace(
        leased, status="leased", attempts=2, lease_owner="w2", lease_until=FUTURE
    )


async def test_work_in_insertion_order_with_a_status_filter(store: BlackboardStore) -> None:
    items = [work_item(f"k{i}", priority=i % 2) for i in range(5)]
    await enqueue(store, items[3], items[1])
    await enqueue(store, items[4], items[0], items[2])
    await store.lease("k1", "w1", FUTURE)
    await store.commit(Commit(complete="k4"))
    await store.commit(Commit(complete="k0", outcome="failed", error="boom"))
    current = await store.work()

    assert [r.key for r in current] == ["k3", "k1", "k4", "k0", "k2"]
    assert [r.status for r in current] == ["pending", "leased", "done", "failed", "pending"]
    assert await store.work(("pending",)) == [current[0], current[4]]
    assert await store.work({"pending", "leased"}) == [current[0], current[1], current[4]]
    assert await store.work(["failed", "done"]) == [current[2], current[3]]
    assert await store.work(()) == []


async def test_work_of_one_workflow(store: BlackboardStore) -> None:
    mine, theirs, done = work_item("k1"), work_item("k2", correlation_id="c2"), work_item("k3")
    await enqueue(store, mine, theirs, done)
    await store.commit(Commit(complete="k3"))

    assert await store.work(correlation_id="c1") == [mine, dataclasses.replace(done, status="done")]
    assert await store.work(("pending", "leased"), correlation_id="c1") == [mine]
    assert await store.work(("pending",), correlation_id="nobody") == []


async def test_a_local_board_is_held_by_one_owner(store: BlackboardStore) -> None:
    if shared_store(store) is not None or not isinstance(store, ExclusiveBoard):
        assert shared_store(store) is not None, "a local store can be held"
        assert not isinstance(store, ExclusiveBoard), "a shared board is run by many processes: it is never held"
        return
    await store.hold("run-1")
    await store.hold("run-1")  # holding again is a no-op
    with pytest.raises(BoardInUseError, match=r"in use by another Flock \(lease owner run-1"):
        await store.hold("run-2")


async def test_requeue_of_a_failed_item(store: BlackboardStore) -> None:
    item = work_item("k")
    await enqueue(store, item, work_item("pending"))
    await store.lease("k", "w1", FUTURE)
    await store.commit(Commit(complete="k", outcome="failed", error="boom"))

    assert await store.requeue("k") is True
    assert (await store.work())[0] == dataclasses.replace(item, last_error="boom", lease_until=None)
    assert (await store.requeue("k"), await store.requeue("pending"), await store.requeue("missing")) == (
        False,
        False,
        False,
    )


async def test_timer_states_are_upserted_per_agent(store: BlackboardStore) -> None:
    assert await store.timer_states() == []
    await store.commit(Commit(timers=(TimerState("a", 1, T0), TimerState("b", 1, T0 + MINUTE))))
    await store.commit(Commit(timers=(TimerState("a", 2, T0 + 2 * MINUTE),)))
    assert await store.timer_states() == [TimerState("a", 2, T0 + 2 * MINUTE), TimerState("b", 1, T0 + MINUTE)]


async def test_expired_joins_round_trip_oldest_first(store: BlackboardStore) -> None:
    a, b = note("a"), task("b", minutes=1)
    first, second = expired_join("(1, 'x')", a, b), expired_join("2")
    await store.commit(Commit(expired_joins=(first,)))
    await store.commit(Commit(expired_joins=(second,)))
    assert await store.expired_joins() == [first, second]


async def test_fingerprints_round_trip_and_are_replaced(store: BlackboardStore) -> None:
    assert await store.fingerprints() == {}
    await store.save_fingerprints({"writer": "abc", "editor": "def"})
    assert await store.fingerprints() == {"writer": "abc", "editor": "def"}
    await store.save_fingerprints({"critic": "123"})
    assert await store.fingerprints() == {"critic": "123"}


async def test_get_many_keeps_the_order_given(store: BlackboardStore) -> None:
    a, b, c = note("a"), note("b", minutes=1), note("c", minutes=2)
    await append_all(store, a, b, c)
    ids: Sequence[Any] = [c.id, new_id(), a.id, c.id]
    assert await store.get_many(ids) == [c, a, c]
    assert await store.get_many([]) == []


async def test_every_artifact_field_round_trips(store: BlackboardStore) -> None:
    artifact = Artifact(
        type="Note",
        payload={"text": "naïve ☃", "n": 2**62, "x": 0.1, "none": None, "nested": {"list": [1, "two", [3.5]]}},
        produced_by="writer",
        correlation_id="c9",
        partition_key="p1",
        tags=frozenset({"b", "a"}),
        visibility=PrivateVisibility(agents=frozenset({"alice", "bob"})),
        created_at=datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=UTC),
        version=3,
        consumed_from=(new_id(), new_id()),
        trace_context={"traceparent": "00-abc-def-01"},
    )
    await store.append(artifact)
    assert await store.get(artifact.id) == artifact
    assert await store.query(ArtifactQuery(correlation_id="c9")) == ArtifactPage(items=(artifact,), total=1, offset=0)
