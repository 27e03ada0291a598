"""The OpenAPI 3.1 document, written from the registry's JSON schemas, and a dependency-free docs page."""

from __future__ import annotations

import html
import re
from typing import Any

from pydantic import BaseModel

from .._version import __version__
from ..blackboard._artifacts import Artifact
from ._agent_routes import RunRequest
from ._artifact_routes import MAX_PAGE, PublishRequest
from ._state import ServeState

__all__ = ["docs_page", "openapi_document"]

_REF = "#/components/schemas/{model}"
_PUBLIC: list[dict[str, list[str]]] = []


def _component_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF.format(model=_component_name(name))}


def _add(components: dict[str, Any], name: str, model: type[BaseModel]) -> None:
    schema = model.model_json_schema(ref_template=_REF)
    components.update(schema.pop("$defs", {}))
    components[_component_name(name)] = schema


def _components(state: ServeState) -> dict[str, Any]:
    components: dict[str, Any] = {}
    for name in state.flock.registry:
        _add(components, name, state.flock.registry.resolve(name))
    for model in (Artifact, PublishRequest, RunRequest):
        _add(components, model.__name__, model)
    error_fields = {"code": {"type": "string"}, "message": {"type": "string"}, "details": {"type": "array"}}
    components["Error"] = {
        "type": "object",
        "properties": {"error": {"type": "object", "properties": error_fields, "required": ["code", "message"]}},
    }
    components["ArtifactPage"] = {
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": _ref("Artifact")},
            "total": {"type": "integer"},
            "offset": {"type": "integer"},
            "limit": {"type": "integer"},
            "next_offset": {"type": ["integer", "null"]},
        },
    }
    return components


def _publish_body(state: ServeState) -> dict[str, Any]:
    by_type = [
        {"allOf": [_ref("PublishRequest"), {"properties": {"type": {"const": name}, "payload": _ref(name)}}]}
        for name in state.flock.registry
    ]
    return {"required": True, "content": {"application/json": {"schema": {"oneOf": by_type}}}}


def _json(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    if schema is None:
        return {"description": description}
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Any]:
    text = {400: "Malformed JSON", 401: "Missing or invalid credentials", 403: "Visibility not allowed",
            404: "Not found (or not visible to the caller)", 413: "Body too large", 422: "Invalid request",
            502: "The agent failed"}  # fmt: skip
    return {str(s): _json(text[s], _ref("Error")) for s in (401, *statuses)}


def _query(name: str, schema: dict[str, Any], text: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": text}


def _path(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


_LIST_PARAMETERS = [
    _query("type", {"type": "array", "items": {"type": "string"}}, "Type names (any of them; repeatable)."),
    _query("produced_by", {"type": "array", "items": {"type": "string"}}, "Producers (any; repeatable)."),
    _query("correlation_id", {"type": "string"}, "Only this workflow."),
    _query("tag", {"type": "array", "items": {"type": "string"}}, "Tags (all of them; repeatable)."),
    _query("since", {"type": "string", "format": "date-time"}, "Created at or after."),
    _query("until", {"type": "string", "format": "date-time"}, "Created before."),
    _query("offset", {"type": "integer", "minimum": 0, "default": 0}, "Matches to skip (oldest first)."),
    _query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 50}, "Page size."),
]


def _artifact_operations(state: ServeState) -> dict[str, dict[str, Any]]:
    return {
        "/api/v1/artifacts": {
            "post": {"summary": "Publish an artifact", "operationId": "publish_artifact",
                     "requestBody": _publish_body(state),
                     "responses": {"201": _json("The stored artifact", _ref("Artifact")),
                                   **_errors(400, 403, 413, 422)}},
            "get": {"summary": "List the artifacts the caller may see", "operationId": "list_artifacts",
                    "parameters": _LIST_PARAMETERS,
                    "responses": {"200": _json("One page", _ref("ArtifactPage")), **_errors(422)}},
        },
        "/api/v1/artifacts/{artifact_id}": {
            "get": {"summary": "Read one artifact", "operationId": "get_artifact", "parameters": [_path("artifact_id")],
                    "responses": {"200": _json("The artifact", _ref("Artifact")), **_errors(404)}},
        },
    }  # fmt: skip


def _other_operations() -> dict[str, dict[str, Any]]:
    text = {"text/plain": {"schema": {"type": "string"}}}
    return {
        "/api/v1/agents": {
            "get": {"summary": "The declared agents", "operationId": "list_agents",
                    "responses": {"200": _json("Agents with subscriptions and output groups", {"type": "object"})}},
        },
        "/api/v1/agents/{name}/run": {
            "post": {"summary": "Run one agent directly on a payload", "operationId": "run_agent",
                     "parameters": [_path("name")],
                     "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("RunRequest")}}},
                     "responses": {"200": _json("The outputs the caller may see", {"type": "object"}),
                                   **_errors(400, 403, 404, 413, 422, 502)}},
        },
        "/api/v1/correlations/{correlation_id}": {
            "get": {"summary": "Where one workflow stands", "operationId": "get_correlation",
                    "parameters": [_path("correlation_id")],
                    "responses": {"200": _json("CorrelationStatus", {"type": "object"}), **_errors(404)}},
        },
        "/api/v1/types": {
            "get": {"summary": "Registered types with their JSON schemas", "operationId": "list_types",
                    "responses": {"200": _json("Types", {"type": "object"})}},
        },
        "/api/v1/events": {
            "get": {"summary": "Run events as Server-Sent Events", "operationId": "stream_events",
                    "parameters": [_query("max_events", {"type": "integer", "minimum": 1}, "Close after this many.")],
                    "responses": {"200": {"description": "text/event-stream",
                                          "content": {"text/event-stream": {"schema": {"type": "string"}}}}}},
        },
        "/metrics": {
            "get": {"summary": "Prometheus metrics", "operationId": "metrics",
                    "responses": {"200": {"description": "Prometheus text format", "content": text}}},
        },
        "/health": {
            "get": {"summary": "Liveness", "operationId": "health", "security": _PUBLIC,
                    "responses": {"200": _json("ok", {"type": "object"})}},
        },
    }  # fmt: skip


def openapi_document(state: ServeState) -> dict[str, Any]:
    """The OpenAPI 3.1 description of the app, with one schema per registered type."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "Flock", "version": __version__, "description": "A blackboard of typed artifacts."},
        "paths": {**_artifact_operations(state), **_other_operations()},
        "components": {
            "schemas": _components(state),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            },
        },
        "security": [{"bearer": []}, {"apiKey": []}],
    }


def docs_page(document: dict[str, Any]) -> str:
    """A minimal HTML page listing the operations of `document` (no scripts, no network)."""
    rows = "".join(
        f"<tr><td><code>{html.escape(method.upper())}</code></td><td><code>{html.escape(path)}</code></td>"
        f"<td>{html.escape(str(operation.get('summary', '')))}</td></tr>"
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
    )
    types = "".join(f"<li><code>{html.escape(name)}</code></li>" for name in document["components"]["schemas"])
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>Flock API</title>"
        '<link rel="icon" href="data:,"><link rel="stylesheet" href="/static/dashboard.css"></head>'
        f"<body class=docs><h1>Flock API {html.escape(document['info']['version'])}</h1>"
        '<p>The machine-readable description is <a href="/openapi.json">/openapi.json</a>; '
        'the dashboard is at <a href="/">/</a>.</p>'
        f"<table><thead><tr><th>Method</th><th>Path</th><th>Summary</th></tr></thead><tbody>{rows}</tbody></table>"
        f"<h2>Schemas</h2><ul>{types}</ul></body></html>"
    )
