"""Human approval: held outputs reach nobody until approved; rejection and timeouts; restarts; identity; traces.

Each test runs on the memory store and on a SQLite file.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic import BaseModel

from flock_core import (
    AgentIdentity,
    ApprovalDecided,
    ApprovalPolicy,
    ApprovalRejected,
    ApprovalRequest,
    ApprovalRequested,
    Artifact,
    BlackboardStore,
    Commit,
    Flock,
    InMemoryBlackboardStore,
    TenantVisibility,
)
from flock_core.blackboard.sqlite._store import SQLiteBlackboardStore
from flock_core.exceptions import AgentDeclarationError, ApprovalError
from flock_core.orchestration._events import FlockEvent
from flock_core.testing import FunctionEngine, VirtualClock

pytestmark = pytest.mark.anyio


class Brief(BaseModel):
    topic: str


class Draft(BaseModel):
    text: str


class Summary(BaseModel):
    text: str


class Post(BaseModel):
    text: str


def write(request: object) -> list[BaseModel]:
    brief = request.payloads[0]  # type: ignore[attr-defined]
    if isinstance(brief, Brief):
        return [Draft(text=f"draft on {brief.topic}")]
    return [Post(text=f"posted: {request.payloads[0].text}")]  # type: ignore[attr-defined]


def newsroom(
    store: BlackboardStore, *, timeout: float | timedelta | None = None, on_timeout: str = "reject", **kw: object
) -> Flock:
    flock = Flock(store=store, engine=FunctionEngine(write), **kw)  # type: ignore[arg-type]
    for model in (Brief, Draft, Post, Summary):
        flock.register_type(model)
    flock.agent("writer").tenant("acme").consumes(Brief).publishes(Draft).requires_approval(
        ["editor", AgentIdentity("chief", tenant="acme")],
        timeout=timeout,
        on_timeout=on_timeout,  # type: ignore[arg-type]
    )
    flock.agent("publisher").consumes(Draft).publishes(Post)
    return flock


async def test_held_outputs_reach_no_consumer_until_approved(store: BlackboardStore) -> None:
    flock = newsroom(store)
    await flock.publish(Brief(topic="tides"), correlation_id="c1")
    await flock.run_until_idle()
    assert await flock.get_by_type(Draft) == []
    assert await flock.get_by_type(Post) == []
    [request] = await flock.approvals()
    assert (request.agent, request.correlation_id, request.status) == ("writer", "c1", "pending")
    assert [a.payload for a in request.artifacts] == [{"text": "draft on tides"}]
    status = await flock.get_correlation_status("c1")
    assert (status.state, status.pending_approvals) == ("awaiting_approval", 1)

    published = await flock.approve(request.id, by="editor", reason="fine")
    assert [a.id for a in published] == [a.id for a in request.artifacts]  # exactly the held outputs
    await flock.run_until_idle()
    assert await flock.get_by_type(Post) == [Post(text="posted: draft on tides")]
    assert await flock.approvals() == []
    [decided] = await store.approvals("approved")
    assert (decided.decided_by, decided.reason) == ("editor", "fine")
    assert (await flock.get_correlation_status("c1")).state == "completed"


async def test_rejection_records_why_in_lineage_and_nothing_runs(store: BlackboardStore) -> None:
    flock = newsroom(store)
    brief = await flock.publish(Brief(topic="gossip"), correlation_id="c1")
    await flock.run_until_idle()
    [request] = await flock.approvals()
    rejection = await flock.reject(request.id, by=AgentIdentity("chief", tenant="acme"), reason="not news")
    await flock.run_until_idle()
    assert await flock.get_by_type(Draft) == []
    assert await flock.get_by_type(Post) == []
    assert rejection.consumed_from == (brief.id,)
    assert rejection.produced_by == "writer"
    assert await flock.get_by_type(ApprovalRejected) == [
        ApprovalRejected(
            agent="writer",
            approval_id=request.id,
            rejected_by="chief@acme",
            reason="not news",
            held_types=["Draft"],
            input_ids=[str(brief.id)],
        )
    ]
    with pytest.raises(ApprovalError):  # decided once
        await flock.approve(request.id, by="editor")


async def test_only_an_approver_who_may_see_the_outputs_decides(store: BlackboardStore) -> None:
    flock = newsroom(store)
    await flock.publish(Brief(topic="merger"), correlation_id="c1", visibility=TenantVisibility(tenant_id="acme"))
    await flock.publish(Brief(topic="weather"), correlation_id="c2")
    await flock.run_until_idle()
    everything = await flock.approvals()
    assert len(everything) == 2
    merger = next(r for r in everything if r.correlation_id == "c1")
    # "editor" has no tenant: it may not see acme's draft, so it neither lists nor decides it
    assert [r.correlation_id for r in await flock.approvals("editor")] == ["c2"]
    assert {r.correlation_id for r in await flock.approvals(AgentIdentity("chief", tenant="acme"))} == {"c1", "c2"}
    assert await flock.approvals("mallory") == []
    for intruder in (
        "editor",
        "mallory",
        AgentIdentity("chief", tenant="globex"),
        AgentIdentity("editor", tenant="acme"),
    ):
        with pytest.raises(ApprovalError) as raised:
            await flock.approve(merger.id, by=intruder)
        assert "no pending approval request" in str(raised.value)
    with pytest.raises(ApprovalError):
        await flock.reject("no-such-id", by="editor")
    assert len(await flock.approvals()) == 2  # nothing was decided by the attempts


async def test_a_timeout_applies_the_declared_outcome(store: BlackboardStore) -> None:
    clock = VirtualClock()
    rejecting = newsroom(store, timeout=60, clock=clock)
    await rejecting.publish(Brief(topic="late"), correlation_id="c1")
    await rejecting.run_until_idle()
    [request] = await rejecting.approvals()
    assert request.deadline == request.requested_at + timedelta(seconds=60)
    clock.advance(timedelta(seconds=61))
    await rejecting.run_until_idle()
    assert await rejecting.approvals() == []
    [rejected] = await rejecting.get_by_type(ApprovalRejected)
    assert (rejected.rejected_by, rejected.reason) == ("timeout", "the approval timed out")
    assert await rejecting.get_by_type(Post) == []


async def test_a_timeout_may_approve() -> None:
    clock = VirtualClock()
    flock = newsroom(InMemoryBlackboardStore(), timeout=timedelta(seconds=5), on_timeout="approve", clock=clock)
    await flock.publish(Brief(topic="auto"), correlation_id="c1")
    await flock.run_until_idle()
    clock.advance(timedelta(seconds=5))
    await flock.run_until_idle()
    assert await flock.get_by_type(Post) == [Post(text="posted: draft on auto")]


async def test_pending_approvals_survive_a_restart(tmp_path: Path) -> None:
    first = newsroom(SQLiteBlackboardStore(tmp_path / "board.db"))
    await first.publish(Brief(topic="durable"), correlation_id="c1")
    await first.run_until_idle()
    [held] = await first.approvals()
    await first.shutdown()

    second = newsroom(SQLiteBlackboardStore(tmp_path / "board.db"))
    [request] = await second.approvals()
    assert request == held
    await second.approve(request.id, by="editor")
    await second.run_until_idle()
    assert await second.get_by_type(Post) == [Post(text="posted: draft on durable")]
    await second.shutdown()


async def test_a_held_timeout_survives_a_restart(tmp_path: Path) -> None:
    clock = VirtualClock()
    first = newsroom(SQLiteBlackboardStore(tmp_path / "board.db"), timeout=30, clock=clock)
    await first.publish(Brief(topic="durable"), correlation_id="c1")
    await first.run_until_idle()
    await first.shutdown()
    clock.advance(timedelta(seconds=31))
    second = newsroom(SQLiteBlackboardStore(tmp_path / "board.db"), timeout=30, clock=clock)
    await second.run_until_idle()
    assert len(await second.get_by_type(ApprovalRejected)) == 1
    await second.shutdown()


async def test_an_output_group_can_require_approval_alone(store: BlackboardStore) -> None:
    def both(request: object) -> list[BaseModel]:
        return [Draft(text="d")] if request.group.types == ("Draft",) else [Summary(text="s")]  # type: ignore[attr-defined]

    flock = Flock(store=store, engine=FunctionEngine(both))
    for model in (Brief, Draft, Summary):
        flock.register_type(model)
    (
        flock.agent("writer")
        .consumes(Brief)
        .publishes(Draft, approval=ApprovalPolicy(frozenset({"editor"})))
        .publishes(Summary)
    )
    await flock.publish(Brief(topic="x"))
    await flock.run_until_idle()
    assert await flock.get_by_type(Summary) == [Summary(text="s")]
    assert await flock.get_by_type(Draft) == []
    [request] = await flock.approvals()
    assert [a.type for a in request.artifacts] == ["Draft"]


async def test_decisions_are_events_and_spans(store: BlackboardStore) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    flock = newsroom(store, tracer_provider=provider)
    events: list[FlockEvent] = []
    flock.events.subscribe(events.append)
    await flock.publish(Brief(topic="t"), correlation_id="c1")
    await flock.run_until_idle()
    [request] = await flock.approvals()
    await flock.approve(request.id, by="editor", reason="ok")
    requested = [e for e in events if isinstance(e, ApprovalRequested)]
    decided = [e for e in events if isinstance(e, ApprovalDecided)]
    assert [(e.approval_id, e.approvers, e.held) for e in requested] == [(request.id, ("chief@acme", "editor"), 1)]
    assert [(e.outcome, e.by, e.reason) for e in decided] == [("approved", "editor", "ok")]
    spans = {s.name: s for s in exporter.get_finished_spans()}
    attributes = dict(spans["decide_approval"].attributes or {})
    assert attributes["flock.approval.approver"] == "editor"
    assert attributes["flock.approval.outcome"] == "approved"
    assert attributes["gen_ai.conversation.id"] == "c1"
    activation = spans["invoke_agent writer"]
    assert [e.name for e in activation.events] == ["approval_requested"]


def test_declaration_mistakes_are_named() -> None:
    flock = Flock()
    builder = flock.agent("writer")
    with pytest.raises(AgentDeclarationError, match="at least one approver"):
        builder.requires_approval([])
    with pytest.raises(AgentDeclarationError, match="on_timeout"):
        builder.requires_approval("editor", on_timeout="maybe")  # type: ignore[arg-type]
    with pytest.raises(AgentDeclarationError, match="timeout"):
        builder.requires_approval("editor", timeout=-1)
    with pytest.raises(AgentDeclarationError, match="ApprovalPolicy"):
        builder.publishes(Draft, approval="editor")  # type: ignore[arg-type]


async def test_cancelling_a_workflow_rejects_what_it_holds(store: BlackboardStore) -> None:
    flock = newsroom(store)
    await flock.publish(Brief(topic="stale"), correlation_id="c1")
    await flock.run_until_idle()
    [request] = await flock.approvals()
    await flock.cancel("c1", reason="story dropped")
    assert await flock.approvals() == []
    [rejected] = await flock.get_by_type(ApprovalRejected)
    assert (rejected.rejected_by, rejected.reason) == ("cancel", "the workflow was cancelled: story dropped")
    with pytest.raises(ApprovalError):
        await flock.approve(request.id, by="editor")
    await flock.run_until_idle()
    assert await flock.get_by_type(Post) == []


async def test_a_running_process_applies_the_timeout_of_a_request_another_process_held(
    store: BlackboardStore,
) -> None:
    clock = VirtualClock()
    flock = newsroom(store, clock=clock)
    await flock.run_until_idle()  # started before anything was held: it knows no deadline yet
    draft = Artifact(type="Draft", payload={"text": "elsewhere"}, produced_by="writer", correlation_id="c1")
    held = ApprovalRequest(
        "r1",
        "writer",
        "c1",
        "writer:k",
        (draft,),
        frozenset({"editor"}),
        clock.now(),
        clock.now() + timedelta(seconds=10),
    )
    await store.commit(Commit(hold=(held,)))  # as another worker on a shared store would
    clock.advance(timedelta(seconds=31))  # past the deadline and the interval at which deadlines are reloaded
    await flock.run_until_idle()
    [rejected] = await flock.get_by_type(ApprovalRejected)
    assert (rejected.approval_id, rejected.rejected_by) == ("r1", "timeout")
