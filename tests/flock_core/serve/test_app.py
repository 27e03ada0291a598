"""The service routes (health, metrics, OpenAPI, docs, dashboard files), auth hooks and error shapes."""

from __future__ import annotations

import json
import re

import httpx
import pytest
from dirty_equals import IsStr
from pydantic import BaseModel
from starlette.requests import Request

from flock_core import AgentIdentity, EvaluationRequest, Flock, __version__
from flock_core.exceptions import EngineError
from flock_core.serve import ANONYMOUS, ApiKeys, create_app
from flock_core.serve._app import STATIC
from flock_core.testing import FunctionEngine

from .conftest import Answer, Question, client_for


def crash(request: EvaluationRequest) -> list[BaseModel]:
    raise EngineError(request.agent.name, "boom")


pytestmark = pytest.mark.anyio


async def test_health_is_open(keyed: httpx.AsyncClient) -> None:
    response = await keyed.get("/health")
    assert response.json() == {"status": "ok", "version": __version__, "agents": 1}


async def test_metrics_in_prometheus_text_format(client: httpx.AsyncClient, flock: Flock) -> None:
    flock.agent("crasher").consumes(Answer).publishes(Question).with_engines(FunctionEngine(crash))
    await client.post("/api/v1/artifacts", json={"type": "Question", "payload": {"text": "a"}})
    await client.post("/api/v1/artifacts", json={"type": "Question", "payload": {"text": "b"}})
    await flock.run_until_idle()
    response = await client.get("/metrics")
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    text = response.text
    assert 'flock_artifacts_published_total{type="Question"} 2\n' in text
    assert 'flock_artifacts_published_total{type="Answer"} 2\n' in text
    assert 'flock_activations_started_total{agent="answerer"} 2\n' in text
    assert 'flock_activations_finished_total{agent="answerer"} 2\n' in text
    assert 'flock_activations_failed_total{agent="crasher"} 2\n' in text
    assert "# TYPE flock_activations_failed_total counter\n" in text
    assert "flock_event_stream_clients 0\n" in text
    for line in text.splitlines():  # every sample line is `name{labels} value` or `name value`
        assert line.startswith("# ") or re.fullmatch(r'[a-z_]+(\{[a-z_]+="[^"]*"\})? \d+', line), line


async def test_metrics_need_credentials(keyed: httpx.AsyncClient) -> None:
    assert (await keyed.get("/metrics")).status_code == 401
    assert (await keyed.get("/metrics", headers={"X-API-Key": "admin-key"})).status_code == 200


async def test_openapi_document_is_written_from_the_registry(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    assert document["openapi"] == "3.1.0"
    assert document["info"]["version"] == __version__
    assert set(document["paths"]) == {
        "/api/v1/artifacts",
        "/api/v1/artifacts/{artifact_id}",
        "/api/v1/agents",
        "/api/v1/agents/{name}/run",
        "/api/v1/conversations/{conversation_id}",
        "/api/v1/conversations/{conversation_id}/turns",
        "/api/v1/correlations/{correlation_id}",
        "/api/v1/dead-letters",
        "/api/v1/dead-letters/replay",
        "/api/v1/dead-letters/{key}/replay",
        "/api/v1/types",
        "/api/v1/events",
        "/metrics",
        "/health",
        "/api/v1/correlations/{correlation_id}/cancel",
        "/api/v1/correlations/{correlation_id}/pause",
        "/api/v1/correlations/{correlation_id}/resume",
        "/api/v1/board/pause",
        "/api/v1/board/resume",
        "/api/v1/approvals",
        "/api/v1/approvals/{approval_id}/approve",
        "/api/v1/approvals/{approval_id}/reject",
    }
    schemas = document["components"]["schemas"]
    assert {"Question", "Answer", "WorkflowError", "Artifact", "PublishRequest", "RunRequest", "Question.Mood"} <= set(
        schemas
    )
    assert schemas["Question"]["properties"]["mood"] == {
        "$ref": "#/components/schemas/Question.Mood",
        "default": "happy",
    }
    variants = document["paths"]["/api/v1/artifacts"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert variants["discriminator"]["mapping"]["Question"] == "#/components/schemas/PublishQuestion"
    question = schemas["PublishQuestion"]
    assert question["properties"]["type"]["enum"] == ["Question"]
    assert question["properties"]["payload"] == {"$ref": "#/components/schemas/Question"}
    refs = re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', json.dumps(document))
    assert set(refs) <= set(schemas)  # every reference resolves


async def test_docs_page_lists_operations(client: httpx.AsyncClient) -> None:
    response = await client.get("/docs")
    assert response.headers["content-type"].startswith("text/html")
    assert "<code>/api/v1/artifacts</code>" in response.text
    assert "<script" not in response.text


async def test_dashboard_is_served_without_external_references(client: httpx.AsyncClient) -> None:
    index = await client.get("/")
    assert index.status_code == 200
    assert 'src="/static/dashboard.js"' in index.text
    for name in ("dashboard.js", "dashboard.css"):
        asset = await client.get(f"/static/{name}")
        assert asset.status_code == 200
    for path in STATIC.iterdir():  # no CDN, no network: only this server's own paths
        text = path.read_text().replace('"http://www.w3.org/2000/svg"', "")  # a namespace name, never fetched
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}/", text), path.name


async def test_dashboard_can_be_turned_off(flock: Flock) -> None:
    async with client_for(create_app(flock, dashboard=False)) as http:
        assert (await http.get("/")).status_code == 404
        assert (await http.get("/health")).status_code == 200


async def test_unknown_routes_and_methods_answer_json_errors(client: httpx.AsyncClient) -> None:
    missing = await client.get("/api/v1/nothing")
    assert missing.json() == {"error": {"code": "not_found", "message": IsStr()}}
    wrong = await client.delete("/api/v1/artifacts")
    assert (wrong.status_code, wrong.json()["error"]["code"]) == (405, "method_not_allowed")


@pytest.mark.parametrize("asynchronous", [False, True])
async def test_callable_authenticators(flock: Flock, asynchronous: bool) -> None:
    def sync_auth(request: Request) -> AgentIdentity | None:
        return AgentIdentity("svc", tenant="acme") if request.headers.get("x-user") == "svc" else None

    async def async_auth(request: Request) -> AgentIdentity | None:
        return sync_auth(request)

    async with client_for(create_app(flock, auth=async_auth if asynchronous else sync_auth)) as http:
        assert (await http.get("/api/v1/agents")).status_code == 401
        published = await http.post(
            "/api/v1/artifacts", json={"type": "Question", "payload": {"text": "x"}}, headers={"x-user": "svc"}
        )
        assert published.json()["visibility"] == {"kind": "tenant", "tenant_id": "acme"}


def test_api_keys() -> None:
    keys = ApiKeys({"k": ANONYMOUS})
    assert keys.identity_for("k") is ANONYMOUS
    assert keys.identity_for("") is None
    with pytest.raises(ValueError, match="empty"):
        ApiKeys({"": ANONYMOUS})
