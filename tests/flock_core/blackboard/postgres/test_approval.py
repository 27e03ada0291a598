"""Approval on PostgreSQL: two workers hold outputs, decide each request once, and a restart keeps them."""

from __future__ import annotations

import anyio
import pytest
from pydantic import BaseModel

from flock_core import ApprovalRejected, ApprovalRequested, ArtifactPublished, EvaluationRequest, Flock
from flock_core.blackboard.postgres._store import PostgresBlackboardStore
from flock_core.exceptions import ApprovalError
from flock_core.orchestration._events import FlockEvent
from flock_core.testing import FunctionEngine

from ...conftest import PG_DSN

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]


class Brief(BaseModel):
    topic: str


class Draft(BaseModel):
    text: str


class Post(BaseModel):
    text: str


def write(request: EvaluationRequest) -> list[BaseModel]:
    payload = request.payloads[0]
    return [Draft(text=payload.topic)] if isinstance(payload, Brief) else [Post(text=payload.text)]  # type: ignore[attr-defined]


def newsroom(store: PostgresBlackboardStore) -> Flock:
    flock = Flock(store=store, engine=FunctionEngine(write), lease=0.6)
    for model in (Brief, Draft, Post):
        flock.register_type(model)
    flock.agent("writer").consumes(Brief).publishes(Draft).requires_approval("editor")
    flock.agent("publisher").consumes(Draft).publishes(Post)
    return flock


async def test_two_workers_decide_each_request_once(pg_schema: str) -> None:
    stores = [PostgresBlackboardStore(PG_DSN, schema=pg_schema) for _ in range(2)]
    first, second = newsroom(stores[0]), newsroom(stores[1])
    requested, posted, held = anyio.Event(), anyio.Event(), []

    def watch(event: FlockEvent) -> None:
        if isinstance(event, ApprovalRequested):
            held.append(event)
            if len(held) == 2:
                requested.set()
        if isinstance(event, ArtifactPublished) and event.artifact.type == "Post":
            posted.set()

    for flock in (first, second):
        flock.events.subscribe(watch)
    try:
        for topic in ("kept", "dropped"):
            await first.publish(Brief(topic=topic), correlation_id=topic)
        with anyio.fail_after(60):
            async with anyio.create_task_group() as group:
                group.start_soon(first.run_worker)
                group.start_soon(second.run_worker)
                await requested.wait()
                requests = {r.correlation_id: r for r in await second.approvals()}
                outcomes: list[str] = []

                async def approve(flock: Flock) -> None:
                    try:
                        await flock.approve(requests["kept"].id, by="editor")
                        outcomes.append("approved")
                    except ApprovalError:
                        outcomes.append("refused")

                async with anyio.create_task_group() as race:  # both workers approve the same request at once
                    race.start_soon(approve, first)
                    race.start_soon(approve, second)
                assert sorted(outcomes) == ["approved", "refused"]
                await first.reject(requests["dropped"].id, by="editor", reason="off topic")
                await posted.wait()
                group.cancel_scope.cancel()
        assert await second.get_by_type(Draft) == [Draft(text="kept")]
        assert await second.get_by_type(Post) == [Post(text="kept")]
        [rejected] = await second.get_by_type(ApprovalRejected)
        assert (rejected.rejected_by, rejected.reason) == ("editor", "off topic")
        assert await second.approvals() == []
    finally:
        for store in stores:
            await store.close()


async def test_pending_approvals_survive_a_restart(pg_schema: str) -> None:
    store = PostgresBlackboardStore(PG_DSN, schema=pg_schema)
    flock = newsroom(store)
    await flock.publish(Brief(topic="durable"), correlation_id="c1")
    await flock.run_until_idle()
    [held] = await flock.approvals()
    await flock.shutdown()

    store = PostgresBlackboardStore(PG_DSN, schema=pg_schema)
    flock = newsroom(store)
    try:
        [request] = await flock.approvals()
        assert request == held
        await flock.approve(request.id, by="editor")
        await flock.run_until_idle()
        assert await flock.get_by_type(Post) == [Post(text="durable")]
    finally:
        await flock.shutdown()
