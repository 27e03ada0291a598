"""Cancel, pause and resume over HTTP: only workflows the caller may see, without revealing the others."""

from __future__ import annotations

import httpx
import pytest

from flock_core import Flock
from flock_core.serve._schemas import ControlResponse, Error

from .conftest import key

pytestmark = pytest.mark.anyio


async def publish(keyed: httpx.AsyncClient, caller: str, text: str = "q") -> str:
    response = await keyed.post(
        "/api/v1/artifacts", json={"type": "Question", "payload": {"text": text}}, headers=key(caller)
    )
    assert response.status_code == 201
    return str(response.json()["correlation_id"])


async def test_a_caller_cancels_a_workflow_it_may_see(keyed: httpx.AsyncClient, flock: Flock) -> None:
    cid = await publish(keyed, "admin")  # public: the answerer's work is queued
    response = await keyed.post(
        f"/api/v1/correlations/{cid}/cancel", json={"reason": "wrong question"}, headers=key("admin")
    )
    assert response.status_code == 200
    assert ControlResponse.model_validate(response.json()) == ControlResponse(
        correlation_id=cid, state="cancelled", cancelled_work_items=1
    )
    status = await flock.get_correlation_status(cid)
    assert (status.state, status.cancel_reason) == ("cancelled", "wrong question")
    without_body = await keyed.post(f"/api/v1/correlations/{cid}/cancel", headers=key("admin"))
    assert without_body.json()["cancelled_work_items"] == 0  # idempotent


async def test_another_tenants_workflow_looks_like_no_workflow(keyed: httpx.AsyncClient, flock: Flock) -> None:
    cid = await publish(keyed, "alice")  # visible to tenant acme only
    missing = await keyed.post("/api/v1/correlations/no-such-workflow/cancel", headers=key("bob"))
    for action in ("cancel", "pause", "resume"):
        refused = await keyed.post(f"/api/v1/correlations/{cid}/{action}", headers=key("bob"))
        assert refused.status_code == missing.status_code == 404
        assert refused.json()["error"]["code"] == missing.json()["error"]["code"] == "not_found"
        assert refused.json()["error"]["message"] == f"no workflow {cid!r}"
        Error.model_validate(refused.json())
    status = await flock.get_correlation_status(cid)
    assert status.state != "cancelled"
    assert status.cancel_reason is None
    assert await flock.store.paused_workflows() == frozenset()
    assert (await keyed.post(f"/api/v1/correlations/{cid}/cancel")).status_code == 401


async def test_pause_and_resume_one_workflow(keyed: httpx.AsyncClient, flock: Flock) -> None:
    cid = await publish(keyed, "admin")
    paused = await keyed.post(f"/api/v1/correlations/{cid}/pause", headers=key("admin"))
    assert ControlResponse.model_validate(paused.json()) == ControlResponse(correlation_id=cid, paused=True)
    await flock.run_until_idle()
    assert (await flock.get_correlation_status(cid)).state == "paused"
    resumed = await keyed.post(f"/api/v1/correlations/{cid}/resume", headers=key("admin"))
    assert resumed.json() == {"correlation_id": cid, "paused": False}
    await flock.run_until_idle()
    assert (await flock.get_correlation_status(cid)).state == "completed"


async def test_only_a_caller_without_a_tenant_pauses_the_board(keyed: httpx.AsyncClient, flock: Flock) -> None:
    refused = await keyed.post("/api/v1/board/pause", headers=key("alice"))
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "forbidden")
    assert await flock.store.paused_workflows() == frozenset()
    assert (await keyed.post("/api/v1/board/pause", headers=key("admin"))).json() == {
        "correlation_id": None,
        "paused": True,
    }
    assert await flock.store.paused_workflows() == frozenset({None})
    assert (await keyed.post("/api/v1/board/resume", headers=key("bob"))).status_code == 403
    assert (await keyed.post("/api/v1/board/resume", headers=key("admin"))).json()["paused"] is False
    assert await flock.store.paused_workflows() == frozenset()
