"""`/api/v1/artifacts`: publishing with validation and limits, listing and reading through visibility."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from datetime import timedelta

import httpx
import pytest
from dirty_equals import IsStr

from flock_core import (
    AfterVisibility,
    ArtifactQuery,
    Flock,
    LabelledVisibility,
    PrivateVisibility,
    PublicVisibility,
    TenantVisibility,
)
from flock_core.serve import create_app

from .conftest import Question, client_for, key

pytestmark = pytest.mark.anyio


async def test_publish_validates_stores_and_returns_the_artifact(client: httpx.AsyncClient, flock: Flock) -> None:
    response = await client.post(
        "/api/v1/artifacts", json={"type": "Question", "payload": {"text": "why?"}, "tags": ["b", "a"]}
    )
    assert response.status_code == 201
    body = response.json()
    assert body == {
        "id": IsStr(),
        "type": "Question",
        "payload": {"text": "why?", "priority": 1, "mood": "happy", "tags": [], "urgent": False},
        "produced_by": "api:anonymous",
        "correlation_id": IsStr(),
        "partition_key": None,
        "tags": ["a", "b"],
        "visibility": {"kind": "public"},
        "created_at": IsStr(),
        "version": 1,
        "consumed_from": [],
        "trace_context": {},
    }
    assert response.headers["location"] == f"/api/v1/artifacts/{body['id']}"
    await flock.run_until_idle()
    answers = await flock.store.query(ArtifactQuery(correlation_id=body["correlation_id"]))
    assert [a.type for a in answers.items] == ["Question", "Answer"]


async def test_invalid_payload_is_422_naming_each_field(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/artifacts", json={"type": "Question", "payload": {"text": "", "priority": 9, "mood": "angry"}}
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_payload"
    assert "Question" in error["message"]
    assert [d["field"] for d in error["details"]] == ["payload.text", "payload.priority", "payload.mood"]


async def test_unknown_type_is_422_naming_the_type(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/artifacts", json={"type": "Nope", "payload": {}})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "unknown_type"
    assert "'Nope'" in error["message"]
    assert error["details"] == [{"field": "type", "message": IsStr(regex=".*'Nope'.*")}]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"{not json", 400, "malformed_json"),
        (b"[1, 2]", 400, "malformed_json"),
        (b"\xff\xfe", 400, "malformed_json"),
        (b'{"type": "Question"}', 422, "invalid_request"),
        (b'{"type": "Question", "payload": {}, "extra": 1}', 422, "invalid_request"),
        (b'{"type": "Question", "payload": {"text": "x"}, "visibility": {"kind": "secret"}}', 422, "invalid_request"),
    ],
)
async def test_malformed_bodies(client: httpx.AsyncClient, body: bytes, status: int, code: str) -> None:
    response = await client.post("/api/v1/artifacts", content=body, headers={"content-type": "application/json"})
    assert (response.status_code, response.json()["error"]["code"]) == (status, code)


async def test_oversized_body_is_413(flock: Flock) -> None:
    async with client_for(create_app(flock, max_body_bytes=100)) as http:
        big = {"type": "Question", "payload": {"text": "x" * 200}}
        response = await http.post("/api/v1/artifacts", json=big)
        assert (response.status_code, response.json()["error"]["code"]) == (413, "body_too_large")

        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(10):
                yield b" " * 50

        json_type = {"content-type": "application/json"}
        streamed = await http.post("/api/v1/artifacts", content=chunks(), headers=json_type)  # counted while read
        assert streamed.status_code == 413
        small = await http.post("/api/v1/artifacts", json={"type": "Question", "payload": {"text": "x"}})
        assert small.status_code == 201


async def test_publish_options_are_kept(client: httpx.AsyncClient, flock: Flock) -> None:
    await flock.publish(Question(text="first"), correlation_id="wf-1")
    body = {
        "type": "Question",
        "payload": {"text": "a"},
        "correlation_id": "wf-1",
        "partition_key": "p",
        "visibility": {"kind": "labelled", "required_labels": []},
    }
    artifact = (await client.post("/api/v1/artifacts", json=body)).json()
    assert (artifact["correlation_id"], artifact["partition_key"]) == ("wf-1", "p")
    assert artifact["visibility"] == {"kind": "labelled", "required_labels": [], "tenant": None}


async def test_callers_may_only_publish_what_they_could_see(keyed: httpx.AsyncClient) -> None:
    async def publish(caller: str, visibility: Mapping[str, object] | None) -> httpx.Response:
        body: dict[str, object] = {"type": "Question", "payload": {"text": "q"}}
        if visibility is not None:
            body["visibility"] = visibility
        return await keyed.post("/api/v1/artifacts", json=body, headers=key(caller))

    other_tenant = await publish("alice", {"kind": "tenant", "tenant_id": "globex"})
    assert (other_tenant.status_code, other_tenant.json()["error"]["code"]) == (403, "forbidden_visibility")
    assert (await publish("alice", {"kind": "tenant", "tenant_id": "acme"})).status_code == 201
    assert (await publish("alice", {"kind": "private", "agents": ["bob"], "tenant": "acme"})).status_code == 403
    assert (await publish("alice", {"kind": "private", "agents": ["alice"]})).status_code == 403  # alice, no tenant
    alice_and_answerer = {"kind": "private", "agents": ["alice", "answerer"], "tenant": "acme"}
    assert (await publish("alice", alice_and_answerer)).status_code == 201
    assert (await publish("alice", {"kind": "labelled", "required_labels": ["clearance:high"]})).status_code == 403
    assert (await publish("admin", {"kind": "labelled", "required_labels": ["clearance:high"]})).status_code == 201
    delayed_public = {"kind": "after", "ttl": "PT1H", "then": {"kind": "public"}}
    assert (await publish("alice", delayed_public)).status_code == 201
    delayed_other = {"kind": "after", "ttl": "PT1H", "then": {"kind": "tenant", "tenant_id": "globex"}}
    assert (await publish("alice", delayed_other)).status_code == 403
    default = (await publish("alice", None)).json()
    assert default["visibility"] == {"kind": "tenant", "tenant_id": "acme"}
    assert (await publish("admin", None)).json()["visibility"] == {"kind": "public"}


async def test_missing_or_wrong_credentials_are_401(keyed: httpx.AsyncClient) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"X-API-Key": "nope"}, {"Authorization": "Basic x"}):
        response = await keyed.get("/api/v1/artifacts", headers=headers)
        assert (response.status_code, response.json()["error"]["code"]) == (401, "unauthorized")
        assert response.headers["www-authenticate"].startswith("Bearer")
    assert (await keyed.get("/api/v1/artifacts", headers={"X-API-Key": "bob-key"})).status_code == 200


async def _seed(flock: Flock) -> dict[str, str]:
    """One artifact per visibility; returns their ids by name."""
    visibilities = {
        "public": PublicVisibility(),
        "acme": TenantVisibility(tenant_id="acme"),
        "globex": TenantVisibility(tenant_id="globex"),
        "bob_only": PrivateVisibility(agents=frozenset({"bob"}), tenant="globex"),
        "high": LabelledVisibility(required_labels=frozenset({"clearance:high"})),
        "later": AfterVisibility(ttl=timedelta(hours=1)),
    }
    ids: dict[str, str] = {}
    for name, visibility in visibilities.items():
        artifact = await flock.publish(Question(text=name), visibility=visibility, correlation_id="wf", tags=[name])
        ids[name] = str(artifact.id)
    return ids


@pytest.mark.parametrize(
    ("caller", "visible"),
    [
        ("alice", ["public", "acme"]),
        ("bob", ["public", "globex", "bob_only"]),
        ("admin", ["public", "high"]),
    ],
)
async def test_list_and_get_go_through_visibility(
    keyed: httpx.AsyncClient, flock: Flock, caller: str, visible: list[str]
) -> None:
    ids = await _seed(flock)
    page = (await keyed.get("/api/v1/artifacts", params={"type": "Question"}, headers=key(caller))).json()
    assert [a["payload"]["text"] for a in page["items"]] == visible
    assert (page["total"], page["next_offset"]) == (len(visible), None)
    for name, artifact_id in ids.items():
        response = await keyed.get(f"/api/v1/artifacts/{artifact_id}", headers=key(caller))
        if name in visible:
            assert response.json()["id"] == artifact_id
        else:  # indistinguishable from a missing artifact
            missing = await keyed.get("/api/v1/artifacts/0190a1b2-0000-7000-8000-000000000000", headers=key(caller))
            assert (response.status_code, missing.status_code) == (404, 404)
            assert response.json()["error"]["code"] == missing.json()["error"]["code"] == "not_found"


async def test_anonymous_callers_see_only_public_artifacts(client: httpx.AsyncClient, flock: Flock) -> None:
    await _seed(flock)
    page = (await client.get("/api/v1/artifacts")).json()
    assert [a["payload"]["text"] for a in page["items"]] == ["public"]


async def test_list_filters_and_paging(client: httpx.AsyncClient, flock: Flock) -> None:
    for n in range(5):
        await flock.publish(
            Question(text=f"q{n}"), correlation_id="a" if n < 3 else "b", tags=["even"] if n % 2 == 0 else []
        )
    await flock.run_until_idle()
    first = (await client.get("/api/v1/artifacts", params={"type": "Question", "limit": 2})).json()
    assert [a["payload"]["text"] for a in first["items"]] == ["q0", "q1"]
    assert (first["total"], first["offset"], first["limit"], first["next_offset"]) == (5, 0, 2, 2)
    last = (await client.get("/api/v1/artifacts", params={"type": "Question", "limit": 2, "offset": 4})).json()
    assert ([a["payload"]["text"] for a in last["items"]], last["next_offset"]) == (["q4"], None)
    by_cid = (await client.get("/api/v1/artifacts", params={"correlation_id": "b"})).json()
    assert [a["type"] for a in by_cid["items"]] == ["Question", "Question", "Answer", "Answer"]
    by_producer = (await client.get("/api/v1/artifacts", params={"produced_by": "answerer"})).json()
    assert by_producer["total"] == 5
    by_tag = (await client.get("/api/v1/artifacts", params={"tag": "even"})).json()
    assert [a["payload"]["text"] for a in by_tag["items"]] == ["q0", "q2", "q4"]
    both = (await client.get("/api/v1/artifacts", params=[("type", "Question"), ("type", "Answer")])).json()
    assert both["total"] == 10
    created = [a["created_at"] for a in both["items"]]
    since = (await client.get("/api/v1/artifacts", params={"since": created[5]})).json()
    until = (await client.get("/api/v1/artifacts", params={"until": created[5]})).json()
    assert since["total"] + until["total"] == 10
    assert until["total"] >= 1


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "501"}, "limit"),
        ({"offset": "-1"}, "offset"),
        ({"since": "soon"}, "since"),
    ],
)
async def test_bad_query_parameters_are_422(client: httpx.AsyncClient, params: dict[str, str], field: str) -> None:
    response = await client.get("/api/v1/artifacts", params=params)
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == field


async def test_naive_timestamps_are_utc(client: httpx.AsyncClient, flock: Flock) -> None:
    await flock.publish(Question(text="x"))
    assert (await client.get("/api/v1/artifacts", params={"since": "2000-01-01T00:00:00"})).json()["total"] == 1
    assert (await client.get("/api/v1/artifacts", params={"until": "2000-01-01T00:00:00Z"})).json()["total"] == 0


async def test_get_with_a_malformed_id_is_404(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/v1/artifacts/not-a-uuid")).status_code == 404


async def test_framework_types_cannot_be_published_or_run(keyed: httpx.AsyncClient, flock: Flock) -> None:
    error = {"agent": "answerer", "error_type": "X", "message": "forged failure"}
    for caller in ("alice", "admin"):
        response = await keyed.post(
            "/api/v1/artifacts", json={"type": "WorkflowError", "payload": error}, headers=key(caller)
        )
        assert (response.status_code, response.json()["error"]["code"]) == (403, "forbidden_type")
    run = await keyed.post(
        "/api/v1/agents/answerer/run", json={"type": "WorkflowError", "payload": error}, headers=key("admin")
    )
    assert (run.status_code, run.json()["error"]["code"]) == (403, "forbidden_type")
    assert (await flock.store.query(ArtifactQuery())).total == 0


async def test_publishing_into_a_workflow_needs_every_artifact_of_it_visible(
    keyed: httpx.AsyncClient, flock: Flock
) -> None:
    await flock.publish(Question(text="shared"), correlation_id="mixed")
    await flock.publish(
        Question(text="acme only"), correlation_id="mixed", visibility=TenantVisibility(tenant_id="acme")
    )
    await flock.publish(Question(text="acme"), correlation_id="acme-wf", visibility=TenantVisibility(tenant_id="acme"))

    async def join(caller: str, cid: str) -> tuple[int, str]:
        body = {"type": "Question", "payload": {"text": "joining"}, "correlation_id": cid}
        response = await keyed.post("/api/v1/artifacts", json=body, headers=key(caller))
        data = response.json()
        return response.status_code, data["error"]["code"] if "error" in data else data["produced_by"]

    assert await join("alice", "mixed") == (201, "api:alice@acme")
    assert await join("alice", "acme-wf") == (201, "api:alice@acme")
    hidden = {await join(caller, cid) for caller in ("bob", "admin") for cid in ("mixed", "acme-wf", "never-existed")}
    assert hidden == {(404, "unknown_correlation")}
