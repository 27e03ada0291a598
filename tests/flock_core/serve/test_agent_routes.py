"""Agents, direct runs, types and workflow status over HTTP."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from dirty_equals import IsFloat, IsStr
from pydantic import BaseModel

from flock_core import (
    AgentIdentity,
    ArtifactQuery,
    Budget,
    EvaluationRequest,
    EvaluationResult,
    Flock,
    PrivateVisibility,
    TenantVisibility,
    Usage,
)
from flock_core.exceptions import EngineError
from flock_core.serve import ApiKeys, create_app
from flock_core.serve._schemas import WorkflowStatus
from flock_core.testing import FunctionEngine, ScriptedEngine

from .conftest import Answer, Question, client_for, key

pytestmark = pytest.mark.anyio


async def test_agents_lists_declarations(client: httpx.AsyncClient, flock: Flock) -> None:
    flock.agent("auditor").consumes(Answer, from_agents="answerer", priority=2).publishes(
        Question, fan_out=(1, 3), visibility=TenantVisibility(tenant_id="acme")
    ).labels("audit").tenant("acme")
    body = (await client.get("/api/v1/agents")).json()
    assert body["agents"] == [
        {
            "name": "answerer",
            "description": "Answers questions.",
            "subscriptions": [
                {"types": ["Question"], "from_agents": None, "tags": None, "priority": 0, "filters": 0, "join": None,
                 "batch": None}
            ],
            "output_groups": [
                {"types": ["Answer"], "fan_out": {"low": 1, "high": 1, "text": "exactly 1"}, "description": None,
                 "visibility": None}
            ],
            "labels": [],
            "tenant": None,
            "tools": [],
            "max_concurrency": None,
            "scheduled": False,
        },
        {
            "name": "auditor",
            "description": None,
            "subscriptions": [
                {"types": ["Answer"], "from_agents": ["answerer"], "tags": None, "priority": 2, "filters": 0,
                 "join": None, "batch": None}
            ],
            "output_groups": [
                {"types": ["Question"], "fan_out": {"low": 1, "high": 3, "text": "between 1 and 3"},
                 "description": None, "visibility": {"kind": "tenant", "tenant_id": "acme"}}
            ],
            "labels": ["audit"],
            "tenant": "acme",
            "tools": [],
            "max_concurrency": None,
            "scheduled": False,
        },
    ]  # fmt: skip


async def test_types_lists_names_and_json_schemas(client: httpx.AsyncClient) -> None:
    types = {t["name"]: t["schema"] for t in (await client.get("/api/v1/types")).json()["types"]}
    assert set(types) >= {"Question", "Answer", "WorkflowError"}
    assert types["Answer"] == Answer.model_json_schema()
    assert types["Question"]["required"] == ["text"]


async def test_run_invokes_the_agent_without_publishing(client: httpx.AsyncClient, flock: Flock) -> None:
    response = await client.post("/api/v1/agents/answerer/run", json={"type": "Question", "payload": {"text": "hi"}})
    assert response.status_code == 200
    body = response.json()
    assert (body["agent"], body["published"]) == ("answerer", False)
    assert [(o["type"], o["payload"]) for o in body["outputs"]] == [("Answer", {"text": "HI"})]
    assert (await flock.store.query(ArtifactQuery())).total == 0


async def test_run_with_publish_outputs_stores_input_and_outputs(client: httpx.AsyncClient, flock: Flock) -> None:
    body = {"type": "Question", "payload": {"text": "hi"}, "publish_outputs": True}
    outputs = (await client.post("/api/v1/agents/answerer/run", json=body)).json()["outputs"]
    page = (await client.get("/api/v1/artifacts", params={"correlation_id": outputs[0]["correlation_id"]})).json()
    assert [a["type"] for a in page["items"]] == ["Question", "Answer"]
    assert page["items"][1]["consumed_from"] == [page["items"][0]["id"]]


async def test_run_errors(client: httpx.AsyncClient, flock: Flock) -> None:
    unknown = await client.post("/api/v1/agents/nobody/run", json={"type": "Question", "payload": {"text": "x"}})
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "not_found")
    invalid = await client.post("/api/v1/agents/answerer/run", json={"type": "Question", "payload": {}})
    assert invalid.status_code == 422
    assert invalid.json()["error"]["details"][0]["field"] == "payload.text"
    unknown_type = await client.post("/api/v1/agents/answerer/run", json={"type": "Nope", "payload": {}})
    assert unknown_type.json()["error"]["code"] == "unknown_type"
    not_consumed = await client.post("/api/v1/agents/answerer/run", json={"type": "Answer", "payload": {"text": "x"}})
    assert not_consumed.status_code == 422
    assert not_consumed.json()["error"] == {
        "code": "type_not_consumed",
        "message": "agent 'answerer' does not consume 'Answer'; it consumes ['Question']",
        "details": [
            {"field": "type", "message": "agent 'answerer' does not consume 'Answer'; it consumes ['Question']"}
        ],
    }
    flock.agent("broken").consumes(Answer).publishes(Question).with_engines(ScriptedEngine({"broken": []}, by_type={}))
    failed = await client.post("/api/v1/agents/broken/run", json={"type": "Answer", "payload": {"text": "x"}})
    assert (failed.status_code, failed.json()["error"]["code"]) == (502, "agent_failed")
    assert "broken" in failed.json()["error"]["message"]


async def test_run_returns_only_outputs_the_caller_may_see(flock: Flock) -> None:
    class Secret(BaseModel):
        text: str

    flock.register_type(Secret)

    flock.agent("splitter").consumes(Question).publishes(Answer).publishes(
        Secret, visibility=PrivateVisibility(agents=frozenset({"ops"}))
    ).with_engines(FunctionEngine(lambda r: [Answer(text="open")] if r.group_index == 0 else [Secret(text="s")]))
    keys = ApiKeys({"ops": AgentIdentity("ops"), "guest": AgentIdentity("guest")})
    async with client_for(create_app(flock, auth=keys)) as http:
        body = {"type": "Question", "payload": {"text": "x"}}
        as_ops = (await http.post("/api/v1/agents/splitter/run", json=body, headers={"X-API-Key": "ops"})).json()
        as_guest = (await http.post("/api/v1/agents/splitter/run", json=body, headers={"X-API-Key": "guest"})).json()
    assert [o["type"] for o in as_ops["outputs"]] == ["Answer", "Secret"]
    assert [o["type"] for o in as_guest["outputs"]] == ["Answer"]


async def test_tenant_callers_may_not_publish_runs(keyed: httpx.AsyncClient) -> None:
    body = {"type": "Question", "payload": {"text": "x"}, "publish_outputs": True}
    response = await keyed.post("/api/v1/agents/answerer/run", json=body, headers=key("alice"))
    assert (response.status_code, response.json()["error"]["code"]) == (403, "forbidden_visibility")
    assert (await keyed.post("/api/v1/agents/answerer/run", json=body, headers=key("admin"))).status_code == 200


async def test_correlation_status(client: httpx.AsyncClient, flock: Flock) -> None:
    await flock.publish(Question(text="a"), correlation_id="wf")
    await flock.publish(Question(text="b"), correlation_id="wf", visibility=TenantVisibility(tenant_id="acme"))
    active = (await client.get("/api/v1/correlations/wf")).json()
    assert (active["state"], active["artifact_count"], active["pending_activations"]) == ("active", 1, 1)
    await flock.run_until_idle()
    done = (await client.get("/api/v1/correlations/wf")).json()
    assert done == {
        "correlation_id": "wf",
        "state": "completed",
        "artifact_count": 2,  # the tenant's question is not counted for this anonymous caller
        "error_count": 0,
        "pending_activations": 0,
        "waiting_gate_inputs": 0,
        "waiting_join_inputs": 0,
        "waiting_batch_inputs": 0,
        "delayed_artifacts": 0,
        "usage": {"input_tokens": 0, "output_tokens": 0, "calls": 0, "cost": 0.0},
        "cancel_reason": None,
        "pending_approvals": 0,
        "budget": None,
    }
    assert (await client.get("/api/v1/correlations/unknown")).status_code == 404


async def test_correlation_status_shows_the_workflows_budget_not_the_flocks() -> None:
    def answer(request: EvaluationRequest) -> EvaluationResult:
        return EvaluationResult([Answer(text="x")], usage=Usage(100, 20, 1, cost=0.25))

    flock = Flock(engine=FunctionEngine(answer), budget=Budget(max_cost=100.0))
    flock.register_type(Question)
    flock.register_type(Answer)
    flock.agent("answerer").consumes(Question).publishes(Answer)
    await flock.publish(Question(text="a"), correlation_id="wf", budget=Budget(max_calls=1, max_cost=1.0))
    await flock.publish(Question(text="b"), correlation_id="wf")
    await flock.run_until_idle()
    async with client_for(create_app(flock)) as http:
        body = (await http.get("/api/v1/correlations/wf")).json()
    WorkflowStatus.model_validate(body)
    assert "flock_budget" not in body  # it sums every workflow's spending, which this caller may not see
    assert body["state"] == "cancelled"
    assert body["usage"] == {"input_tokens": 100, "output_tokens": 20, "calls": 1, "cost": 0.25}
    assert body["budget"] == {
        "limit": {"max_calls": 1, "max_cost": 1.0},
        "spent": {"input_tokens": 100, "output_tokens": 20, "calls": 1, "cost": 0.25},
        "elapsed": IsFloat(ge=0),
        "remaining": {"max_calls": 0, "max_cost": 0.75},
        "exceeded": {"name": "max_calls", "limit": 1, "spent": 1},
    }


async def test_correlation_of_invisible_artifacts_is_404(keyed: httpx.AsyncClient, flock: Flock) -> None:
    await flock.publish(Question(text="a"), correlation_id="acme-wf", visibility=TenantVisibility(tenant_id="acme"))
    assert (await keyed.get("/api/v1/correlations/acme-wf", headers=key("alice"))).status_code == 200
    hidden = await keyed.get("/api/v1/correlations/acme-wf", headers=key("bob"))
    assert hidden.status_code == 404
    assert hidden.json() == {"error": {"code": "not_found", "message": IsStr()}}


async def test_failed_workflow_counts_visible_errors(client: httpx.AsyncClient, flock: Flock) -> None:
    flock.agent("crasher").consumes(Answer).publishes(Question).with_engines(
        FunctionEngine(lambda r: (_ for _ in ()).throw(EngineError("crasher", "boom")))
    )
    await flock.publish(Question(text="a"), correlation_id="wf")
    await flock.run_until_idle()
    status = (await client.get("/api/v1/correlations/wf")).json()
    assert (status["state"], status["error_count"]) == ("failed", 1)


async def test_run_answers_502_json_when_the_engine_raises(client: httpx.AsyncClient, flock: Flock) -> None:
    def explode(request: EvaluationRequest) -> list[BaseModel]:
        raise RuntimeError("the model host is down")

    flock.agent("fragile").consumes(Answer).publishes(Question).with_engines(FunctionEngine(explode))
    failed = await client.post("/api/v1/agents/fragile/run", json={"type": "Answer", "payload": {"text": "x"}})
    assert failed.status_code == 502
    assert failed.headers["content-type"] == "application/json"
    assert failed.json() == {
        "error": {"code": "agent_failed", "message": "agent 'fragile' failed: RuntimeError: the model host is down"}
    }


async def test_correlation_status_shows_only_what_the_caller_may_see(keyed: httpx.AsyncClient, flock: Flock) -> None:
    flock.agent("acme_answerer").tenant("acme").consumes(Question).publishes(Answer)
    flock.agent("globex_crasher").tenant("globex").consumes(Question).publishes(Answer).with_engines(
        FunctionEngine(lambda r: (_ for _ in ()).throw(EngineError("globex_crasher", "boom")))
    )
    await flock.publish(Question(text="a"), correlation_id="mixed", visibility=TenantVisibility(tenant_id="acme"))
    await flock.publish(Question(text="b"), correlation_id="mixed", visibility=TenantVisibility(tenant_id="globex"))

    async def status(caller: str, cid: str = "mixed") -> dict[str, Any]:
        response = await keyed.get(f"/api/v1/correlations/{cid}", headers=key(caller))
        return {"status": response.status_code, **response.json()}

    queued = await status("alice")
    assert (queued["state"], queued["artifact_count"], queued["pending_activations"]) == ("active", 1, 1)
    await flock.run_until_idle()
    everything = await flock.get_correlation_status("mixed")
    assert (everything.state, everything.artifact_count, everything.error_count) == ("failed", 4, 1)
    shown = {caller: await status(caller) for caller in ("alice", "bob")}
    assert {c: (s["state"], s["artifact_count"], s["error_count"]) for c, s in shown.items()} == {
        "alice": ("completed", 2, 0),  # her question and its answer; globex's failure is not hers to see
        "bob": ("failed", 2, 1),  # his question and the error
    }
    assert all(s["usage"]["calls"] == 0 and s["cancel_reason"] is None for s in shown.values())
    unseen, unknown = await status("admin"), await status("admin", "no-such-workflow")
    assert unseen["status"] == unknown["status"] == 404
    assert unseen["error"]["code"] == unknown["error"]["code"] == "not_found"
