"""Approval events on `GET /api/v1/events`: only a caller who may decide a request hears of it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import anyio
import httpx
import pytest
from dirty_equals import IsDatetime, IsPartialDict, IsStr
from pydantic import BaseModel

from flock_core import AgentIdentity, ApprovalDecided, ApprovalRequested, Flock, PublicVisibility, TenantVisibility
from flock_core.serve import ApiKeys, EventFilter, create_app
from flock_core.serve._metrics import Metrics
from flock_core.serve._state import ServeState
from flock_core.serve._worker import Worker
from flock_core.testing import FunctionEngine, VirtualClock

from .conftest import Answer, Question, client_for
from .test_stream import parse_frames, wait_for_stream_clients

pytestmark = pytest.mark.anyio

ALICE = AgentIdentity("alice", tenant="acme")  # an approver who may see acme's answers
CAROL = AgentIdentity("carol", tenant="acme")  # sees them too, but is no approver
BOB = AgentIdentity("bob", tenant="globex")  # an approver in another tenant: may not see them
KEYS = ApiKeys({"alice-key": ALICE, "carol-key": CAROL, "bob-key": BOB})


class Post(BaseModel):
    text: str


def reply(request: Any) -> list[BaseModel]:
    payload = request.payloads[0]
    return [Answer(text=payload.text.upper())] if isinstance(payload, Question) else [Post(text=payload.text)]


def make_flock(**options: Any) -> Flock:
    """`Question -> answerer (tenant acme, held for alice or bob, 1 hour) -> Answer -> poster -> Post`."""
    flock = Flock(engine=FunctionEngine(reply), **options)
    for model in (Question, Answer, Post):
        flock.register_type(model)
    flock.agent("answerer").tenant("acme").consumes(Question).publishes(Answer).requires_approval(
        [ALICE, BOB], timeout=3600
    )
    flock.agent("poster").tenant("acme").consumes(Answer).publishes(Post)
    return flock


def key(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {name}-key"}


@pytest.fixture
def flock() -> Flock:
    return make_flock()


@pytest.fixture
async def keyed(flock: Flock) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(create_app(flock, auth=KEYS)) as http:
        yield http


async def test_only_an_approver_who_may_see_the_held_outputs_hears_of_a_request(
    keyed: httpx.AsyncClient, flock: Flock
) -> None:
    received: dict[str, list[tuple[str, dict[str, Any]]]] = {}

    async def listen(caller: str, count: int) -> None:
        response = await keyed.get("/api/v1/events", params={"max_events": count}, headers=key(caller))
        received[caller] = parse_frames(response.text)

    async def approve_one() -> None:
        """Alice's question is held, she approves the answer, then a public artifact ends every stream."""
        await wait_for_stream_clients(keyed, 3, key("alice"))
        published = await keyed.post(
            "/api/v1/artifacts", json={"type": "Question", "payload": {"text": "merger"}}, headers=key("alice")
        )
        await flock.run_until_idle()
        [request] = await flock.approvals()
        decided = await keyed.post(
            f"/api/v1/approvals/{request.id}/approve", json={"reason": "ok"}, headers=key("alice")
        )
        assert decided.status_code == 200
        await flock.run_until_idle()
        await flock.publish(Post(text="the end"), visibility=PublicVisibility())  # every caller sees this one
        received["ids"] = [("ids", {"cid": published.json()["correlation_id"], "request": request.id})]

    with anyio.fail_after(20):
        async with anyio.create_task_group() as group:
            group.start_soon(listen, "alice", 10)
            group.start_soon(listen, "carol", 8)
            group.start_soon(listen, "bob", 1)
            group.start_soon(approve_one)
    [(_, ids)] = received["ids"]
    cid, request_id = ids["cid"], ids["request"]

    alice = received["alice"]
    requested = [d for k, d in alice if k == "approval_requested"]
    assert requested == [
        {
            "kind": "approval_requested",
            "at": IsDatetime(iso_string=True),
            "approval_id": request_id,
            "agent": "answerer",
            "correlation_id": cid,
            "approvers": ["alice@acme", "bob@globex"],
            "held": 1,
            "approval": {
                "id": request_id,
                "agent": "answerer",
                "correlation_id": cid,
                "approvers": ["alice@acme", "bob@globex"],
                "requested_at": IsDatetime(iso_string=True),
                "deadline": IsStr(),
                "on_timeout": "rejected",
                "artifacts": [IsPartialDict(type="Answer", payload={"text": "MERGER"})],
            },
        }
    ]
    assert [d for k, d in alice if k == "approval_decided"] == [
        {
            "kind": "approval_decided",
            "at": IsDatetime(iso_string=True),
            "approval_id": request_id,
            "agent": "answerer",
            "correlation_id": cid,
            "outcome": "approved",
            "by": "alice@acme",
            "reason": "ok",
            "timed_out": False,
        }
    ]
    assert [k for k, _ in alice] == [
        "artifact_published",
        "activation_started",
        "approval_requested",  # held in the commit that finishes the activation
        "activation_finished",
        "artifact_published",  # approved: the held answer
        "approval_decided",
        "activation_started",
        "artifact_published",
        "activation_finished",
        "artifact_published",
    ]
    assert alice[-1][1]["artifact"]["payload"] == {"text": "the end"}
    for caller in ("carol", "bob"):
        frames = received[caller]
        assert frames[-1][1]["artifact"]["payload"] == {"text": "the end"}, caller
        assert not [k for k, _ in frames if k.startswith("approval")], caller
        assert request_id not in str(frames), caller


async def test_a_timeout_is_a_decision_the_approvers_hear_of_and_nobody_else() -> None:
    clock = VirtualClock()
    flock = make_flock(clock=clock)
    state = ServeState(flock, KEYS, 1000, Metrics(), Worker(flock, "never"))
    events: list[ApprovalRequested | ApprovalDecided] = []
    flock.events.subscribe(lambda e: events.append(e) if isinstance(e, ApprovalRequested | ApprovalDecided) else None)
    await flock.publish(Question(text="late"), visibility=TenantVisibility(tenant_id="acme"))
    await flock.run_until_idle()
    clock.advance(timedelta(hours=2))
    await flock.run_until_idle()
    # a request whose outputs are public: bob, an approver in another tenant, may decide that one
    await flock.publish(Question(text="open"), visibility=PublicVisibility())
    await flock.run_until_idle()
    [timed_out, open_request] = [e for e in events if isinstance(e, ApprovalRequested)]
    [decided] = [e for e in events if isinstance(e, ApprovalDecided)]
    assert (decided.approval_id, decided.by) == (timed_out.approval_id, "timeout")

    alice, carol, bob = (EventFilter(state, who) for who in (ALICE, CAROL, BOB))
    assert (await alice.view(decided) or {})["timed_out"] is True
    for outsider in (carol, bob):  # not an approver / may not see the held answer
        assert await outsider.view(timed_out) is None
        assert await outsider.view(decided) is None
    assert await carol.view(open_request) is None  # carol may see it, but is no approver
    assert (await bob.view(open_request) or {})["approval_id"] == open_request.approval_id
    unknown = ApprovalRequested("no-such-request", "answerer", "c", ("bob@globex",), 1)
    assert await bob.view(unknown) is None  # what the store does not hold is never shown
