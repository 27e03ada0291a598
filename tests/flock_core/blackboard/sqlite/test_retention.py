"""Retention tools of the SQLite store: delete old artifacts, vacuum, export and import a workflow."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import BaseModel

from flock_core import Artifact, ArtifactPage, ArtifactQuery, Flock, PrivateVisibility
from flock_core.blackboard._work import Commit, WorkRecord
from flock_core.blackboard.sqlite._retention import RetentionResult
from flock_core.blackboard.sqlite._store import SQLiteBlackboardStore
from flock_core.exceptions import StoreError
from flock_core.testing import FunctionEngine

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 1, 1, tzinfo=UTC)
FUTURE = datetime(2100, 1, 1, tzinfo=UTC)


def note(text: str, minutes: int, correlation_id: str = "c1", **fields: object) -> Artifact:
    return Artifact(
        type="Note",
        payload={"text": text},
        correlation_id=correlation_id,
        created_at=T0 + timedelta(minutes=minutes),
        **fields,  # type: ignore[arg-type]
    )


def work_item(key: str, *inputs: Artifact) -> WorkRecord:
    return WorkRecord(
        key=key, agent="writer", subscription=0, input_ids=tuple(a.id for a in inputs), correlation_id="c1"
    )


def file_sizes(path: Path) -> tuple[int, int]:
    """The sizes of the database file and of its write-ahead log."""
    return path.stat().st_size, Path(f"{path}-wal").stat().st_size


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteBlackboardStore]:
    made = SQLiteBlackboardStore(tmp_path / "board.db")
    yield made
    await made.close()


async def test_delete_before_keeps_inputs_of_unfinished_work(store: SQLiteBlackboardStore) -> None:
    pending_input, leased_input, done_input, failed_input, plain = (note(str(i), i) for i in range(5))
    recent = note("recent", 60)
    for artifact in (pending_input, leased_input, done_input, failed_input, plain, recent):
        await store.append(artifact)
    items = [
        work_item("pending", pending_input),
        work_item("leased", leased_input),
        work_item("done", done_input, recent),
        work_item("failed", failed_input),
    ]
    await store.commit(Commit(enqueue=tuple(items), consumed=(("auditor", plain.id),)))
    await store.lease("leased", "w1", FUTURE)
    await store.commit(Commit(complete="done"))
    await store.commit(Commit(complete="failed", outcome="failed", error="boom"))

    result = await store.delete_before(T0 + timedelta(minutes=30))

    assert result == RetentionResult(artifacts=3, consumptions=3, work_items=1, kept=2)
    remaining = await store.query(ArtifactQuery())
    assert remaining == ArtifactPage(items=(pending_input, leased_input, recent), total=3, offset=0)
    assert await store.consumed_pairs() == {
        ("writer", pending_input.id),
        ("writer", leased_input.id),
        ("writer", recent.id),
    }
    assert [r.key for r in await store.work()] == ["pending", "leased", "done"], "done still has an input left"


async def test_delete_before_nothing_old(store: SQLiteBlackboardStore) -> None:
    await store.append(note("new", 10))
    assert await store.delete_before(T0) == RetentionResult(0, 0, 0, 0)
    assert (await store.query(ArtifactQuery())).total == 1


async def test_a_run_resumes_after_its_old_artifacts_are_deleted(tmp_path: Path) -> None:
    class Question(BaseModel):
        text: str

    class Answer(BaseModel):
        text: str

    calls: list[str] = []

    def answer(request: object) -> list[BaseModel]:
        calls.append("answer")
        return [Answer(text="42")]

    def make() -> Flock:
        flock = Flock(engine=FunctionEngine(answer), store=SQLiteBlackboardStore(tmp_path / "board.db"))
        flock.register_type(Question)
        flock.register_type(Answer)
        flock.agent("answerer").consumes(Question).publishes(Answer)
        return flock

    async with make() as first:
        await first.arun(Question(text="old"))
        await first.publish(Question(text="queued"))
        store = first.store
        assert isinstance(store, SQLiteBlackboardStore)
        result = await store.delete_before(FUTURE)
    async with make() as second:
        report = await second.start()
        await second.run_until_idle()
        assert (result.artifacts, result.kept, report.resumed_work, calls) == (2, 1, 1, ["answer", "answer"])
        assert await second.get_by_type(Question) == [Question(text="queued")]


async def test_export_and_import_of_a_workflow_round_trip(store: SQLiteBlackboardStore, tmp_path: Path) -> None:
    workflow = [
        note("a", 0, "w1"),
        note("b", 1, "w1", tags=frozenset({"x"}), visibility=PrivateVisibility(agents=frozenset({"alice"}))),
        note("c", 3, "w1", produced_by="writer", trace_context={"traceparent": "00-1-2-01"}),
    ]
    for artifact in (workflow[0], note("other", 2, "w2"), *workflow[1:]):
        await store.append(artifact)

    exported = await store.export_correlation("w1", tmp_path / "w1.jsonl")

    target = SQLiteBlackboardStore(tmp_path / "archive.db")
    await target.append(workflow[1])
    imported = (
        await target.import_artifacts(tmp_path / "w1.jsonl"),
        await target.import_artifacts(tmp_path / "w1.jsonl"),
    )
    page = await target.query(ArtifactQuery(correlation_id="w1"))
    await target.close()

    assert (exported, imported) == (3, (2, 0))
    assert len((tmp_path / "w1.jsonl").read_text().splitlines()) == 3
    assert page == ArtifactPage(items=(workflow[1], workflow[0], workflow[2]), total=3, offset=0)


async def test_export_of_an_unknown_workflow_writes_an_empty_file(store: SQLiteBlackboardStore, tmp_path: Path) -> None:
    assert await store.export_correlation("missing", tmp_path / "none.jsonl") == 0
    assert (tmp_path / "none.jsonl").read_text() == ""


async def test_import_of_an_invalid_line_names_it_and_stores_nothing(
    store: SQLiteBlackboardStore, tmp_path: Path
) -> None:
    good = note("good", 0)
    (tmp_path / "bad.jsonl").write_text(good.model_dump_json() + "\n\n" + '{"type": "Note"}\n')
    with pytest.raises(StoreError, match=r"bad\.jsonl line 3 is not an artifact"):
        await store.import_artifacts(tmp_path / "bad.jsonl")
    assert (await store.query(ArtifactQuery())).total == 0


async def test_vacuum_returns_the_space_of_deleted_artifacts(store: SQLiteBlackboardStore) -> None:
    payload = "x" * 2000
    for _ in range(300):
        await store.append(Artifact(type="Blob", payload={"data": payload}, correlation_id="c", created_at=T0))
    await store.vacuum()
    full, _ = file_sizes(store.path)
    await store.delete_before(FUTURE)
    await store.vacuum()
    size, wal = file_sizes(store.path)
    assert (size < full / 10, wal) == (True, 0), "the file shrank and the write-ahead log was truncated"
    assert (await store.query(ArtifactQuery())).total == 0
