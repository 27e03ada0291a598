"""The OpenAPI document: valid, typed, and usable by a real generator (openapi-python-client) against the server."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from openapi_spec_validator import validate
from pydantic import BaseModel

from flock_core import Flock
from flock_core.serve import create_app, start_server
from flock_core.serve._schemas import AgentList, ArtifactPage, Error, Health, RunResponse, TypeList, WorkflowStatus

from .conftest import KEYS, client_for, key, make_flock

pytestmark = pytest.mark.anyio


async def document_of(flock: Flock, *, auth: bool) -> dict[str, Any]:
    async with client_for(create_app(flock, auth=KEYS if auth else None)) as http:
        response = await http.get("/openapi.json", headers=key("admin"))
        return response.json()


@pytest.mark.parametrize("auth", [False, True])
async def test_the_document_validates_and_declares_credentials_only_when_checked(auth: bool) -> None:
    document = await document_of(make_flock(), auth=auth)
    validate(document)
    publish = document["paths"]["/api/v1/artifacts"]["post"]["responses"]
    declared = {"201", "400", "403", "413", "422", "429"} | ({"401"} if auth else set())
    assert set(publish) == declared
    assert ("security" in document, "securitySchemes" in document["components"]) == (auth, auth)
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                schema = response["content"][next(iter(response["content"]))]["schema"]
                assert schema != {"type": "object"}, (method, path, status)  # every body is typed


class Address(BaseModel):
    street: str


class Order(BaseModel):
    ship_to: Address


def user_error_type() -> type[BaseModel]:
    class Error(BaseModel):  # a user type named like the API's error schema
        reason: str

    return Error


def other_address_type() -> type[BaseModel]:
    class Address(BaseModel):  # pyright: ignore[reportUnusedClass] - the same name as Order's Address, another model
        lat: float
        lon: float

    class Place(BaseModel):
        at: Address

    return Place


async def test_user_types_never_replace_or_share_components() -> None:
    flock = make_flock()
    for model in (Order, other_address_type(), user_error_type()):
        flock.register_type(model)
    document = await document_of(flock, auth=False)
    validate(document)
    schemas = document["components"]["schemas"]
    assert schemas["Error"]["properties"]["error"] == {"$ref": "#/components/schemas/ErrorBody"}  # the API's
    assert schemas["ErrorPayload"]["properties"] == {"reason": {"title": "Reason", "type": "string"}}
    assert schemas["Order"]["properties"]["ship_to"] == {"$ref": "#/components/schemas/Order.Address"}
    assert schemas["Place"]["properties"]["at"] == {"$ref": "#/components/schemas/Place.Address"}
    assert set(schemas["Order.Address"]["properties"]) == {"street"}
    assert set(schemas["Place.Address"]["properties"]) == {"lat", "lon"}
    mapping = document["paths"]["/api/v1/artifacts"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert mapping["discriminator"]["mapping"]["Error"] == "#/components/schemas/PublishErrorPayload"
    titles = [schema["title"] for schema in schemas.values()]
    assert len(titles) == len(set(titles))  # generators name classes after titles


async def test_every_response_matches_its_declared_model(keyed: httpx.AsyncClient) -> None:
    admin = key("admin")
    published = await keyed.post(
        "/api/v1/artifacts", json={"type": "Question", "payload": {"text": "q"}}, headers=admin
    )
    cid = published.json()["correlation_id"]
    run = await keyed.post(
        "/api/v1/agents/answerer/run", json={"type": "Question", "payload": {"text": "r"}}, headers=admin
    )
    checks: list[tuple[type[BaseModel], httpx.Response]] = [
        (ArtifactPage, await keyed.get("/api/v1/artifacts", headers=admin)),
        (AgentList, await keyed.get("/api/v1/agents", headers=admin)),
        (TypeList, await keyed.get("/api/v1/types", headers=admin)),
        (WorkflowStatus, await keyed.get(f"/api/v1/correlations/{cid}", headers=admin)),
        (RunResponse, run),
        (Health, await keyed.get("/health")),
        (Error, await keyed.get("/api/v1/artifacts/nope", headers=admin)),
        (Error, await keyed.post("/api/v1/artifacts", json={"type": "Question", "payload": {}}, headers=admin)),
        (Error, await keyed.get("/api/v1/agents")),
    ]
    for model, response in checks:
        model.model_validate(response.json())  # unknown fields are forbidden: the models are exact


@pytest.fixture(scope="module")
def generated_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A client package generated by openapi-python-client from the served document (with API keys on)."""
    import anyio

    document = anyio.run(lambda: document_of(make_flock(), auth=True))
    workdir = tmp_path_factory.mktemp("generated")
    (workdir / "openapi.json").write_text(json.dumps(document))
    (workdir / "config.yaml").write_text("post_hooks: []\npackage_name_override: flock_client\n")
    generator = Path(sys.executable).with_name("openapi-python-client")
    options = ["--path", "openapi.json", "--output-path", "flock_client", "--meta", "none", "--config", "config.yaml"]
    result = subprocess.run(
        [str(generator), "generate", *options],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Warning" not in result.stdout, result.stdout  # nothing was dropped from the client
    sys.path.insert(0, str(workdir))
    try:
        yield importlib.import_module("flock_client")
    finally:
        sys.path.remove(str(workdir))
        for name in [m for m in sys.modules if m == "flock_client" or m.startswith("flock_client.")]:
            del sys.modules[name]


async def test_a_generated_client_publishes_reads_and_parses_errors(generated_client: Any) -> None:
    api = importlib.import_module("flock_client.api.default")
    models = importlib.import_module("flock_client.models")
    publish = importlib.import_module("flock_client.api.default.publish_artifact")
    read = importlib.import_module("flock_client.api.default.get_artifact")
    assert api is not None
    async with await start_server(make_flock(), port=0, auth=KEYS, dashboard=False) as handle:
        clients = {name: generated_client.AuthenticatedClient(base_url=handle.url, token=token)
                   for name, token in (("alice", "alice-key"), ("bob", "bob-key"), ("stranger", "wrong"))}  # fmt: skip
        async with clients["alice"] as alice, clients["bob"] as bob, clients["stranger"] as stranger:
            body = models.PublishQuestion(type_=models.PublishQuestionType.QUESTION, payload=models.Question(text="hi"))
            stored = await publish.asyncio(client=alice, body=body)
            assert isinstance(stored, models.Artifact)
            assert (stored.type_, stored.payload["text"], stored.produced_by) == ("Question", "hi", "api:alice@acme")
            read_back = await read.asyncio(client=alice, artifact_id=str(stored.id))
            assert isinstance(read_back, models.Artifact)
            assert read_back.to_dict() == stored.to_dict()

            empty = models.Question(text="")
            rejected = await publish.asyncio_detailed(
                client=alice, body=models.PublishQuestion(type_=models.PublishQuestionType.QUESTION, payload=empty)
            )
            assert rejected.status_code == 422
            assert isinstance(rejected.parsed, models.Error)
            assert rejected.parsed.error.code == "invalid_payload"
            assert [(d.field, d.message) for d in rejected.parsed.error.details] == [
                ("payload.text", "String should have at least 1 character")
            ]

            refused = await read.asyncio_detailed(client=stranger, artifact_id=str(stored.id))
            assert (refused.status_code, refused.parsed.error.code) == (401, "unauthorized")
            hidden = await read.asyncio_detailed(client=bob, artifact_id=str(stored.id))  # another tenant's artifact
            assert (hidden.status_code, hidden.parsed.error.code) == (404, "not_found")
