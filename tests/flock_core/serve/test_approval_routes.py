"""Approval over HTTP: the caller is the approver; it lists and decides only what it may, and nothing leaks."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import BaseModel

from flock_core import AgentIdentity, ApprovalRejected, Flock
from flock_core.serve import create_app
from flock_core.serve._schemas import ApprovalList, DecisionResponse, Error
from flock_core.testing import FunctionEngine

from .conftest import KEYS, Answer, Question, client_for, key

pytestmark = pytest.mark.anyio


class Post(BaseModel):
    text: str


def reply(request: object) -> list[BaseModel]:
    payload = request.payloads[0]  # type: ignore[attr-defined]
    return [Answer(text=payload.text.upper())] if isinstance(payload, Question) else [Post(text=payload.text)]


@pytest.fixture
def flock() -> Flock:
    flock = Flock(engine=FunctionEngine(reply))
    for model in (Question, Answer, Post):
        flock.register_type(model)
    flock.agent("answerer").tenant("acme").consumes(Question).publishes(Answer).requires_approval(
        ["admin", AgentIdentity("alice", tenant="acme"), AgentIdentity("bob", tenant="globex")]
    )
    flock.agent("poster").tenant("acme").consumes(Answer).publishes(Post)
    return flock


@pytest.fixture
async def keyed(flock: Flock) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(create_app(flock, auth=KEYS)) as http:
        yield http


async def held(keyed: httpx.AsyncClient, flock: Flock, caller: str, text: str) -> str:
    response = await keyed.post(
        "/api/v1/artifacts", json={"type": "Question", "payload": {"text": text}}, headers=key(caller)
    )
    assert response.status_code == 201
    await flock.run_until_idle()
    return str(response.json()["correlation_id"])


async def test_an_approver_lists_and_approves_and_the_outputs_flow_on(keyed: httpx.AsyncClient, flock: Flock) -> None:
    cid = await held(keyed, flock, "alice", "merger")  # tenant acme: its answer is visible in acme only
    listing = await keyed.get("/api/v1/approvals", headers=key("alice"))
    [request] = ApprovalList.model_validate(listing.json()).approvals
    assert (request.agent, request.correlation_id) == ("answerer", cid)
    assert [a.payload for a in request.artifacts] == [{"text": "MERGER"}]
    assert await flock.get_by_type(Post) == []

    response = await keyed.post(f"/api/v1/approvals/{request.id}/approve", json={"reason": "ok"}, headers=key("alice"))
    decision = DecisionResponse.model_validate(response.json())
    assert (decision.outcome, decision.by, [a.id for a in decision.published]) == (
        "approved",
        "alice@acme",
        [a.id for a in request.artifacts],
    )
    await flock.run_until_idle()
    assert await flock.get_by_type(Post) == [Post(text="MERGER")]
    [stored] = await flock.store.approvals("approved")
    assert (stored.decided_by, stored.reason) == ("alice@acme", "ok")


async def test_callers_who_may_not_decide_neither_see_nor_decide(keyed: httpx.AsyncClient, flock: Flock) -> None:
    await held(keyed, flock, "alice", "secret")
    [request] = await flock.approvals()
    # bob is an approver but in another tenant: he may not see acme's answer; admin has no tenant either
    for caller in ("bob", "admin"):
        assert (await keyed.get("/api/v1/approvals", headers=key(caller))).json() == {"approvals": []}
    unknown = await keyed.post("/api/v1/approvals/no-such-id/approve", headers=key("bob"))
    for caller in ("bob", "admin"):
        for verb in ("approve", "reject"):
            refused = await keyed.post(f"/api/v1/approvals/{request.id}/{verb}", headers=key(caller))
            assert refused.status_code == unknown.status_code == 404
            Error.model_validate(refused.json())
            assert "secret" not in refused.text.lower()
    assert (await keyed.get("/api/v1/approvals")).status_code == 401
    assert [r.id for r in await flock.approvals()] == [request.id]  # still pending


async def test_a_rejection_over_http_names_the_caller(keyed: httpx.AsyncClient, flock: Flock) -> None:
    await held(keyed, flock, "admin", "public question")  # public: every approver may see it
    [request] = ApprovalList.model_validate((await keyed.get("/api/v1/approvals", headers=key("bob"))).json()).approvals
    response = await keyed.post(f"/api/v1/approvals/{request.id}/reject", json={"reason": "no"}, headers=key("bob"))
    assert response.json()["outcome"] == "rejected"
    [rejection] = await flock.get_by_type(ApprovalRejected)
    assert (rejection.rejected_by, rejection.reason) == ("bob@globex", "no")
    again = await keyed.post(f"/api/v1/approvals/{request.id}/approve", headers=key("admin"))
    assert again.status_code == 404  # decided once
    await flock.run_until_idle()
    assert await flock.get_by_type(Post) == []
