"""The OpenAPI 3.1 document, written from the registry's JSON schemas, and a dependency-free docs page."""

from __future__ import annotations

import html
import re
from typing import Any, cast

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from .._version import __version__
from ..blackboard._artifacts import Artifact
from ._agent_routes import RunRequest
from ._artifact_routes import MAX_PAGE, PublishRequest
from ._control_routes import CancelRequest, DecisionRequest
from ._conversation_routes import TurnRequest
from ._schemas import RESPONSE_MODELS
from ._state import ServeState

__all__ = ["docs_page", "openapi_document"]

_REF = "#/components/schemas/{model}"
_DEFS = "#/$defs/{model}"
_PUBLIC: list[dict[str, list[str]]] = []
_API_MODELS: tuple[tuple[type[BaseModel], JsonSchemaMode], ...] = (
    (Artifact, "serialization"),
    (PublishRequest, "validation"),
    (RunRequest, "validation"),
    (TurnRequest, "validation"),
    (CancelRequest, "validation"),
    (DecisionRequest, "validation"),
    *((model, "serialization") for model in RESPONSE_MODELS),
)


class _Components:
    """The `components/schemas` of the document: every name allocated once, references rewritten to match.

    The API's own models are named first, so a user type can never replace one (a user type named `Error`
    becomes `ErrorPayload`). The models nested in a user type are namespaced by it (`Order.Address`), so
    two types with different nested models of the same name do not share one component.
    """

    def __init__(self) -> None:
        self.schemas: dict[str, Any] = {}

    def allocate(self, wanted: str, fallback_suffix: str = "") -> str:
        name = re.sub(r"[^A-Za-z0-9._-]", "_", wanted)
        if name in self.schemas and fallback_suffix:
            name += fallback_suffix
        base, number = name, 2
        while name in self.schemas:
            name, number = f"{base}_{number}", number + 1
        self.schemas[name] = {}
        return name

    def add(self, name: str, schema: dict[str, Any], defs: dict[str, Any], namespace: str | None) -> None:
        """Store `schema` as `name` and its `$defs` beside it, namespaced by `namespace` when given."""
        mapping = {
            _DEFS.format(model=d): _REF.format(model=self.allocate(f"{namespace}.{d}" if namespace else d))
            for d in defs
        }
        self.schemas[name] = _rewrite(schema, mapping)
        for d, definition in defs.items():
            self.schemas[mapping[_DEFS.format(model=d)].rsplit("/", 1)[1]] = _rewrite(definition, mapping)


def _rewrite(node: Any, mapping: dict[str, str]) -> Any:
    """`node` with every `$ref` (and discriminator mapping) renamed through `mapping`."""
    if isinstance(node, dict):
        items = cast(dict[str, Any], node).items()
        return {k: mapping.get(v, v) if isinstance(v, str) else _rewrite(v, mapping) for k, v in items}
    if isinstance(node, list):
        return [_rewrite(v, mapping) for v in cast(list[Any], node)]
    return node


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF.format(model=name)}


def _api_components(components: _Components) -> None:
    _, top = models_json_schema(_API_MODELS, ref_template=_DEFS)
    defs: dict[str, Any] = top["$defs"]
    mapping = {_DEFS.format(model=d): _REF.format(model=components.allocate(d)) for d in defs}
    for d, definition in defs.items():
        components.schemas[mapping[_DEFS.format(model=d)].rsplit("/", 1)[1]] = _rewrite(definition, mapping)
    artifact = components.schemas["Artifact"]
    artifact["required"] = list(artifact["properties"])  # every field is always in a response


def _type_components(state: ServeState, components: _Components) -> dict[str, str]:
    """Add each registered type's payload schema; the component name of each type name."""
    names: dict[str, str] = {}
    for type_name in state.flock.registry:
        schema = state.flock.registry.resolve(type_name).model_json_schema(ref_template=_DEFS)
        defs: dict[str, Any] = schema.pop("$defs", {})
        name = names[type_name] = components.allocate(type_name, fallback_suffix="Payload")
        components.add(name, schema, defs, namespace=name)
    return names


def _publish_variants(components: _Components, names: dict[str, str]) -> dict[str, Any]:
    """One request schema per registered type (`type` fixed, `payload` typed), chosen by `type`."""
    generic = components.schemas["PublishRequest"]
    mapping: dict[str, str] = {}
    for type_name, component in names.items():
        variant = components.allocate(f"Publish{component}")
        properties = {
            **generic["properties"],
            "type": {"type": "string", "enum": [type_name], "description": "The registered type name."},
            "payload": _ref(component),
        }
        components.schemas[variant] = {**generic, "title": variant, "properties": properties}
        mapping[type_name] = _REF.format(model=variant)
    return {
        "oneOf": [{"$ref": r} for r in mapping.values()],
        "discriminator": {"propertyName": "type", "mapping": mapping},
    }


def _json(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    if schema is None:
        return {"description": description}
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_ERROR_TEXT = {
    400: "Malformed JSON",
    401: "Missing or invalid credentials",
    403: "Not allowed for the caller",
    404: "Not found (or not visible to the caller)",
    409: "The conversation was cancelled",
    413: "Body too large",
    422: "Invalid request",
    429: "The board is full (max_pending with when_full='raise'): retry later",
    502: "The agent failed",
}


class _Operations:
    """Builds the operations, declaring 401 and security only when the server checks credentials."""

    def __init__(self, auth_on: bool) -> None:
        self.auth_on = auth_on

    def errors(self, *statuses: int) -> dict[str, Any]:
        declared = (401, *statuses) if self.auth_on else statuses
        return {str(s): _json(_ERROR_TEXT[s], _ref("Error")) for s in sorted(declared)}

    def operation(
        self, summary: str, operation_id: str, ok: dict[str, Any], *errors: int, **extra: Any
    ) -> dict[str, Any]:
        responses = {**ok, **self.errors(*errors)}
        return {"summary": summary, "operationId": operation_id, **extra, "responses": responses}


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


def _artifact_paths(ops: _Operations, publish_body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    body = {"required": True, "content": {"application/json": {"schema": publish_body}}}
    return {
        "/api/v1/artifacts": {
            "post": ops.operation("Publish an artifact", "publish_artifact",
                                  {"201": _json("The stored artifact", _ref("Artifact"))}, 400, 403, 413, 422, 429,
                                  requestBody=body),
            "get": ops.operation("List the artifacts the caller may see", "list_artifacts",
                                 {"200": _json("One page", _ref("ArtifactPage"))}, 422, parameters=_LIST_PARAMETERS),
        },
        "/api/v1/artifacts/{artifact_id}": {
            "get": ops.operation("Read one artifact", "get_artifact", {"200": _json("The artifact", _ref("Artifact"))},
                                 404, parameters=[_path("artifact_id")]),
        },
    }  # fmt: skip


def _other_paths(ops: _Operations) -> dict[str, dict[str, Any]]:
    text = {"text/plain": {"schema": {"type": "string"}}}
    run_body = {"required": True, "content": {"application/json": {"schema": _ref("RunRequest")}}}
    turn_body = {"required": True, "content": {"application/json": {"schema": _ref("TurnRequest")}}}
    events = {"description": "Server-Sent Events", "content": {"text/event-stream": {"schema": {"type": "string"}}}}
    health: dict[str, Any] = {
        "summary": "Liveness",
        "operationId": "health",
        "responses": {"200": _json("ok", _ref("Health"))},
    }
    if ops.auth_on:
        health["security"] = _PUBLIC
    return {
        "/api/v1/agents": {
            "get": ops.operation("The declared agents", "list_agents", {"200": _json("Agents", _ref("AgentList"))}),
        },
        "/api/v1/agents/{name}/run": {
            "post": ops.operation("Run one agent directly on a payload", "run_agent",
                                  {"200": _json("The outputs the caller may see", _ref("RunResponse"))},
                                  400, 403, 404, 413, 422, 502, parameters=[_path("name")], requestBody=run_body),
        },
        "/api/v1/conversations/{conversation_id}/turns": {
            "post": ops.operation("Take a turn in a conversation and wait for the replies", "take_turn",
                                  {"200": _json("The turn and the replies the caller may see", _ref("TurnResponse")),
                                   "202": _json("The wait ran out: the replies so far", _ref("TurnResponse"))},
                                  400, 403, 404, 409, 413, 422, parameters=[_path("conversation_id")],
                                  requestBody=turn_body),
        },
        "/api/v1/conversations/{conversation_id}": {
            "get": ops.operation("The latest turns of a conversation the caller may see", "get_conversation",
                                 {"200": _json("The turns, oldest first", _ref("ConversationPage"))}, 404, 422,
                                 parameters=[_path("conversation_id"),
                                             _query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE,
                                                              "default": 100}, "How many of the latest turns.")]),
        },
        "/api/v1/correlations/{correlation_id}": {
            "get": ops.operation("Where one workflow stands", "get_correlation",
                                 {"200": _json("The workflow's status", _ref("WorkflowStatus"))}, 404,
                                 parameters=[_path("correlation_id")]),
        },
        "/api/v1/types": {
            "get": ops.operation("Registered types with their JSON schemas", "list_types",
                                 {"200": _json("Types", _ref("TypeList"))}),
        },
        "/api/v1/events": {
            "get": ops.operation("Run events as Server-Sent Events", "stream_events", {"200": events},
                                 parameters=[_query("max_events", {"type": "integer", "minimum": 1},
                                                    "Close after this many."),
                                             _query("tokens", {"type": "boolean", "default": False},
                                                    "Also send the token_streamed events of visible activations.")]),
        },
        "/metrics": {
            "get": ops.operation("Prometheus metrics", "metrics",
                                 {"200": {"description": "Prometheus text format", "content": text}}),
        },
        "/health": {"get": health},
    }  # fmt: skip


def _dead_letter_paths(ops: _Operations) -> dict[str, dict[str, Any]]:
    filters = [
        _query("agent", {"type": "string"}, "Only this agent's."),
        _query("correlation_id", {"type": "string"}, "Only this workflow's."),
    ]
    replayed = {"200": _json("How many were queued again", _ref("ReplayResult"))}
    return {
        "/api/v1/dead-letters": {
            "get": ops.operation("Work that failed for good, whose inputs the caller may see", "list_dead_letters",
                                 {"200": _json("Dead letters", _ref("DeadLetterList"))}, parameters=filters),
        },
        "/api/v1/dead-letters/replay": {
            "post": ops.operation("Replay every dead letter the caller may see", "replay_dead_letters", replayed,
                                  parameters=filters),
        },
        "/api/v1/dead-letters/{key}/replay": {
            "post": ops.operation("Replay one dead letter", "replay_dead_letter", replayed, 404,
                                  parameters=[_path("key")]),
        },
    }  # fmt: skip


def _optional_body(model: str) -> dict[str, Any]:
    return {"required": False, "content": {"application/json": {"schema": _ref(model)}}}


def _control_paths(ops: _Operations) -> dict[str, dict[str, Any]]:
    workflow = [_path("correlation_id")]
    approval = [_path("approval_id")]
    done = {"200": _json("What was done", _ref("ControlResponse"))}
    decided = {"200": _json("What the decision published", _ref("DecisionResponse"))}
    paths: dict[str, dict[str, Any]] = {
        "/api/v1/correlations/{correlation_id}/cancel": {
            "post": ops.operation(
                "Cancel a workflow the caller may see",
                "cancel_workflow",
                done,
                400,
                404,
                413,
                422,
                parameters=workflow,
                requestBody=_optional_body("CancelRequest"),
            ),
        },
        "/api/v1/approvals": {
            "get": ops.operation(
                "Pending approval requests the caller may decide",
                "list_approvals",
                {"200": _json("Requests", _ref("ApprovalList"))},
                parameters=[_query("correlation_id", {"type": "string"}, "Only this workflow.")],
            ),
        },
    }
    for verb in ("pause", "resume"):
        paths[f"/api/v1/correlations/{{correlation_id}}/{verb}"] = {
            "post": ops.operation(
                f"{verb.capitalize()} a workflow the caller may see", f"{verb}_workflow", done, 404, parameters=workflow
            ),
        }
        paths[f"/api/v1/board/{verb}"] = {
            "post": ops.operation(
                f"{verb.capitalize()} every workflow (callers without a tenant)", f"{verb}_board", done, 403
            ),
        }
    for verb in ("approve", "reject"):
        paths[f"/api/v1/approvals/{{approval_id}}/{verb}"] = {
            "post": ops.operation(
                f"{verb.capitalize()} held outputs as the caller",
                verb,
                decided,
                400,
                404,
                413,
                422,
                parameters=approval,
                requestBody=_optional_body("DecisionRequest"),
            ),
        }
    return paths  # fmt: skip


def _titled(schemas: dict[str, Any]) -> dict[str, Any]:
    """Each component titled by its unique name (generators name their classes after titles)."""
    return {name: {**schema, "title": name} for name, schema in schemas.items()}


def openapi_document(state: ServeState) -> dict[str, Any]:
    """The OpenAPI 3.1 description of the app, with one schema per registered type.

    Every response is typed; errors share the `Error` schema; credentials (401 responses, security
    schemes) are declared only when the server checks them.
    """
    components = _Components()
    _api_components(components)
    publish_body = _publish_variants(components, _type_components(state, components))
    ops = _Operations(auth_on=state.auth is not None)
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": "Flock", "version": __version__, "description": "A blackboard of typed artifacts."},
        "paths": {
            **_artifact_paths(ops, publish_body),
            **_other_paths(ops),
            **_control_paths(ops),
            **_dead_letter_paths(ops),
        },
        "components": {"schemas": _titled(components.schemas)},
    }
    if ops.auth_on:
        document["components"]["securitySchemes"] = {
            "bearer": {"type": "http", "scheme": "bearer"},
            "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
        }
        document["security"] = [{"bearer": []}, {"apiKey": []}]
    return document


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
