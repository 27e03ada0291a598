"""Steps on a local board: each is routed and stored as one, so stored work never names a missing input.

Routing puts an artifact in a gate before its step is stored. Steps are therefore stored one at a time,
in the order they were routed (else a work item completed by a later step could land first, and a crash
in between would leave it naming an artifact that was never stored). A step whose commit is refused (its
work item was finished meanwhile) leaves no trace in the routing: its outputs complete nothing, and the
other inputs of the work it completed are taken again.
"""

from __future__ import annotations

import dataclasses
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
