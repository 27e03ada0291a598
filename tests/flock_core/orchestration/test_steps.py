"""Steps on a local board: each is routed and stored as one, so stored work never names a missing input.

Routing puts an artifact in a gate before its step is stored. Steps are therefore stored one at a time,
in the order they were routed (else a work item completed by a later step could land first, and a crash
in between would leave it naming an artifact that was never stored). A step whose commit is refused (its
work item was finished meanwhile) leaves no trace in the routing: its outputs complete nothing, and the
other inputs of the work it completed are taken again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import anyio
import pytest
from pydantic import BaseModel

from flock_core import ArtifactQuery, EvaluationRequest, Flock, InMemoryBlackboardStore
from flock_core.blackboard._work import Commit, ExpiredJoin, WorkRecord
from flock_core.orchestration._routing import Routed
from flock_core.orchestration._runtime import Runtime, WorkItem
from flock_core.testing import FunctionEngine, VirtualClock


class Topic(BaseModel):
    n: int


class Final(BaseModel):
    n: int


class Summary(BaseModel):
    ns: list[int]


class RefusingStore(InMemoryBlackboardStore):
    """Finishes the work item that produced `Final(n=refused)` itself and refuses that step, like a store
    on which another owner finished the item first."""

    def __init__(self, refused: int) -> None:
        super().__init__()
        self.refused = refused
        self.refusals = 0

    async def commit(self, commit: Commit) -> bool:
        if commit.complete is not None and any(a.payload == {"n": self.refused} for a in commit.artifacts):
            await super().commit(Commit(complete=commit.complete))
            self.refusals += 1
            return False
        return await super().commit(commit)


def work(request: EvaluationRequest) -> list[BaseModel]:
    if request.agent.name == "editor":
        [topic] = request.payloads
        assert isinstance(topic, Topic)
        return [Final(n=topic.n)]
    return [Summary(ns=sorted(p.n for p in request.payloads if isinstance(p, Final)))]


@pytest.mark.anyio
@pytest.mark.parametrize("order", [(1, 0, 2), (0, 1, 2)], ids=["refused-first", "refused-completes-the-gate"])
async def test_refused_outputs_feed_nothing_and_other_inputs_are_taken_again(order: tuple[int, ...]) -> None:
    store = RefusingStore(refused=1)
    flock = Flock(engine=FunctionEngine(work), store=store)
    flock.agent("editor").consumes(Topic).publishes(Final)
    flock.agent("summarizer").consumes(Final, Final).publishes(Summary)
    for n in order:
        await flock.publish(Topic(n=n), correlation_id="w")
        await flock.run_until_idle()

    assert store.refusals == 1
    summaries = await flock.get_by_type(Summary)
    assert summaries == [Summary(ns=[0, 2])]
    artifacts = {a.id: a for a in (await store.query(ArtifactQuery())).items}
    assert all(i in artifacts for a in artifacts.values() for i in a.consumed_from), "lineage names a missing artifact"


@pytest.mark.anyio
async def test_outputs_of_a_work_item_finished_while_it_ran_are_refused_on_a_plain_memory_store() -> None:
    # The store commits synchronously, so the outputs' step could be stored at once: it must still see
    # that the work item it completes was finished meanwhile, and be refused as on any other store.
    store = InMemoryBlackboardStore()
    finished: list[str] = []

    async def finish_it_elsewhere(request: EvaluationRequest) -> list[BaseModel]:
        if request.agent.name == "editor" and list(request.payloads) == [Topic(n=1)]:
            [record] = [r for r in await store.work() if r.status == "leased" and r.agent == "editor"]
            await store.commit(Commit(complete=record.key))  # another owner finished it first
            finished.append(record.key)
        return work(request)

    flock = Flock(engine=FunctionEngine(finish_it_elsewhere), store=store)
    flock.agent("editor").consumes(Topic).publishes(Final)
    flock.agent("summarizer").consumes(Final, Final).publishes(Summary)
    for n in (0, 1, 2):
        await flock.publish(Topic(n=n), correlation_id="w")
        await flock.run_until_idle()

    assert len(finished) == 1
    assert sorted(f.n for f in await flock.get_by_type(Final)) == [0, 2]  # Final(n=1) never landed
    assert await flock.get_by_type(Summary) == [Summary(ns=[0, 2])]


class CountingLeases(InMemoryBlackboardStore):
    """Counts its leases and refuses the one of `Topic(n=refused)` (another owner holds it)."""

    def __init__(self, refused: int) -> None:
        super().__init__()
        self.refused = refused
        self.leases: list[str] = []

    async def lease(self, key: str, owner: str, until: datetime) -> WorkRecord | None:
        self.leases.append(key)
        record = self._work.get(key)
        if record is not None and (await self.get_many(record.input_ids))[0].payload == {"n": self.refused}:
            return None
        return await super().lease(key, owner, until)


@pytest.mark.anyio
async def test_a_store_that_overrides_lease_is_asked_for_every_lease() -> None:
    # A plain memory store is leased synchronously (`lease_at_once`); a subclass's own `lease` must
    # still decide every lease, or a store that refuses one would see its item run anyway.
    store = CountingLeases(refused=1)
    flock = Flock(engine=FunctionEngine(work), store=store)
    flock.agent("editor").consumes(Topic).publishes(Final)
    for n in range(3):
        await flock.publish(Topic(n=n))
    await flock.run_until_idle()
    assert len(store.leases) == 3
    assert sorted(f.n for f in await flock.get_by_type(Final)) == [0, 2]


@pytest.mark.anyio
async def test_the_synchronous_lease_is_the_lease() -> None:
    until = datetime(2030, 1, 1, tzinfo=UTC)
    records = [WorkRecord(f"k{n}", "editor", 0, (), "w") for n in range(2)]
    stores = [InMemoryBlackboardStore(), InMemoryBlackboardStore()]
    for store in stores:
        await store.commit(Commit(enqueue=tuple(records)))
    by_lease = [await stores[0].lease("k0", "me", until), await stores[0].lease("k0", "other", until)]
    at_once = [stores[1].lease_at_once("k0", "me", until), stores[1].lease_at_once("k0", "other", until)]
    assert by_lease == at_once
    assert by_lease[0] is not None
    assert (by_lease[0].status, by_lease[0].attempts) == ("leased", 1)
    assert by_lease[1] is None  # leased by another owner until then
    assert await stores[0].work() == await stores[1].work()


def test_a_work_item_queued_or_running_here_is_not_queued_twice() -> None:
    runtime = Runtime(VirtualClock(), max_concurrency=2, agent_limit=lambda _agent: None)
    record = WorkRecord(key="editor:1", agent="editor", subscription=0, input_ids=(), correlation_id="w")
    assert runtime.submit(WorkItem(record, ())) is True
    assert runtime.submit(WorkItem(record, ())) is False
    assert runtime.pending() == 1
    assert runtime.held_keys() == ["editor:1"]


def test_routed_work_is_added_to_a_step_without_changing_anything_else_in_it() -> None:
    values: dict[str, Any] = {field.name: (object(),) for field in dataclasses.fields(Commit)}
    commit = Commit(**values)  # every field distinct: a field moved to another place shows
    record = WorkRecord(key="editor:1", agent="editor", subscription=0, input_ids=(), correlation_id="w")
    at = datetime(2026, 1, 1, tzinfo=UTC)
    expired = ExpiredJoin("editor", 0, "k", (), (), "window elapsed", at)
    added = Routed((WorkItem(record, ()),), (expired,)).into(commit)
    assert added == dataclasses.replace(
        commit, enqueue=(*values["enqueue"], record), expired_joins=(*values["expired_joins"], expired)
    )
    assert Routed().into(commit) == commit


class SlowFirstStore(InMemoryBlackboardStore):
    """Stores the step of `Final(n=0)` slowly, and records work stored before an input it names."""

    def __init__(self) -> None:
        super().__init__()
        self.stored: set[UUID] = set()
        self.dangling: list[tuple[str, UUID]] = []

    async def commit(self, commit: Commit) -> bool:
        if any(a.payload == {"n": 0} and a.type.endswith("Final") for a in commit.artifacts):
            await anyio.sleep(0.05)
        here = self.stored | {a.id for a in commit.artifacts}
        self.dangling += [(r.agent, i) for r in commit.enqueue for i in r.input_ids if i not in here]
        self.stored |= {a.id for a in commit.artifacts}
        return await super().commit(commit)


@pytest.mark.anyio
async def test_work_is_never_stored_before_an_input_it_names() -> None:
    store = SlowFirstStore()
    flock = Flock(engine=FunctionEngine(work), store=store, max_concurrency=3)
    flock.agent("editor").consumes(Topic).publishes(Final)
    flock.agent("summarizer").consumes(Final, Final, Final).publishes(Summary)
    for n in range(3):
        await flock.publish(Topic(n=n), correlation_id="w")
    await flock.run_until_idle()

    assert store.dangling == []
    assert await flock.get_by_type(Summary) == [Summary(ns=[0, 1, 2])]


class Held:
    """An embedder that waits until `go` is set (a step routing a semantic subscription's type waits for it)."""

    def __init__(self) -> None:
        self.asked = anyio.Event()
        self.go = anyio.Event()

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        self.asked.set()
        await self.go.wait()
        return [[1.0] for _ in texts]


class Ticket(BaseModel):
    text: str


def stored_types(store: InMemoryBlackboardStore) -> list[str]:
    return [a.type for a in store._order]  # pyright: ignore[reportPrivateUsage]


@pytest.mark.anyio
async def test_a_step_that_could_be_stored_at_once_waits_for_the_step_under_way() -> None:
    embedder = Held()
    meanwhile: list[str] = ["not checked"]
    store = InMemoryBlackboardStore()
    flock = Flock(engine=FunctionEngine(work), store=store, embedder=embedder)
    flock.agent("triage").consumes(Ticket, semantic="refund").publishes(Final)
    flock.agent("editor").consumes(Topic).publishes(Final)
    async with anyio.create_task_group() as tg:
        tg.start_soon(flock.publish, Ticket(text="refund please"))  # routed after an embedding: the step waits
        with anyio.fail_after(5):
            await embedder.asked.wait()
        tg.start_soon(flock.publish, Topic(n=1))  # nothing to wait for, but a step is under way
        await anyio.wait_all_tasks_blocked()
        meanwhile = stored_types(store)
        embedder.go.set()

    assert meanwhile == []
    assert stored_types(store) == ["Ticket", "Topic"]  # in the order they were routed
    assert [r.agent for r in await store.work()] == ["triage", "editor"]


class SlowStore(InMemoryBlackboardStore):
    """Waits in every commit until `go` is set; counts the commits."""

    def __init__(self) -> None:
        super().__init__()
        self.committing = anyio.Event()
        self.go = anyio.Event()
        self.commits = 0

    async def commit(self, commit: Commit) -> bool:
        self.commits += 1
        self.committing.set()
        await self.go.wait()
        return await super().commit(commit)


async def consistent(flock: Flock, store: InMemoryBlackboardStore) -> int:
    """The number of stored topics, each with its stored work item, each run once by `run_until_idle`."""
    topics = [a for a in store._order if a.type == "Topic"]  # pyright: ignore[reportPrivateUsage]
    records = [r for r in await store.work() if r.agent == "editor"]
    assert sorted(i for r in records for i in r.input_ids) == sorted(a.id for a in topics)
    await flock.run_until_idle()
    assert sorted(f.n for f in await flock.get_by_type(Final)) == sorted(t.payload["n"] for t in topics)
    return len(topics)


@pytest.mark.anyio
async def test_a_publish_cancelled_while_its_step_waits_is_stored_whole() -> None:
    store = SlowStore()
    flock = Flock(engine=FunctionEngine(work), store=store)
    flock.agent("editor").consumes(Topic).publishes(Final)
    async with anyio.create_task_group() as tg:
        tg.start_soon(flock.publish, Topic(n=1))
        with anyio.fail_after(5):  # a store whose `commit` is skipped never gets here
            await store.committing.wait()
        tg.cancel_scope.cancel()  # the step is shielded: it finishes once the store answers
        store.go.set()

    assert await consistent(flock, store) == 1


@pytest.mark.anyio
async def test_a_publish_in_a_cancelled_scope_is_stored_whole_or_not_at_all() -> None:
    store = InMemoryBlackboardStore()
    flock = Flock(engine=FunctionEngine(work), store=store)
    flock.agent("editor").consumes(Topic).publishes(Final)
    await flock.start()
    with anyio.CancelScope() as scope:
        scope.cancel()
        await flock.publish(Topic(n=1))
    await flock.publish(Topic(n=2))

    assert await consistent(flock, store) in (1, 2)


@pytest.mark.anyio
async def test_a_store_that_overrides_commit_stores_every_step_through_it() -> None:
    store = SlowStore()
    store.go.set()
    flock = Flock(engine=FunctionEngine(work), store=store)
    flock.agent("editor").consumes(Topic).publishes(Final)
    for n in range(3):
        await flock.publish(Topic(n=n))

    assert await consistent(flock, store) == 3
    assert store.commits == 6  # three publishes, three activations


@pytest.mark.anyio
async def test_a_step_the_store_fails_at_once_leaves_nothing_in_the_gates() -> None:
    store = InMemoryBlackboardStore()
    commit_at_once = store.commit_at_once

    def fail_on_one(commit: Commit) -> bool:
        if any(a.payload == {"n": 1} for a in commit.artifacts):
            raise RuntimeError("disk full")
        return commit_at_once(commit)

    store.commit_at_once = fail_on_one  # pyright: ignore[reportAttributeAccessIssue]
    flock = Flock(engine=FunctionEngine(work), store=store)
    flock.agent("summarizer").consumes(Final, Final).publishes(Summary)
    with pytest.raises(RuntimeError, match="disk full"):
        await flock.publish(Final(n=1), correlation_id="w")  # routed into the gate, then not stored
    await flock.publish(Final(n=2), correlation_id="w")
    await flock.publish(Final(n=3), correlation_id="w")
    await flock.run_until_idle()

    assert await flock.get_by_type(Summary) == [Summary(ns=[2, 3])]
    assert stored_types(store) == ["Final", "Final", "Summary"]
