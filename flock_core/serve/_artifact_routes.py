"""`/api/v1/artifacts`: publish, list and read artifacts, every read through the caller's visibility."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .._budget import Budget
from ..blackboard._artifacts import API_PRODUCER_PREFIX, framework_types
from ..blackboard._store import ArtifactQuery
from ..blackboard._visibility import (
    AgentIdentity,
    PublicVisibility,
    TenantVisibility,
    Visibility,
    is_visible,
    visible_from,
)
from ..exceptions import PayloadValidationError, QueueFullError, TypeRegistrationError
from ._http import ApiError, json_response, parse_body, read_json, validation_details
from ._state import ServeState
from ._views import artifact_json, artifact_view

__all__ = [
    "MAX_PAGE",
    "RESERVED_TAG_PREFIX",
    "BudgetRequest",
    "PublishRequest",
    "artifact_routes",
    "default_visibility",
    "invalid_payload",
    "may_join",
    "may_publish",
    "producer_of",
    "refuse_framework_type",
    "resolve_payload",
    "resolve_type",
]

MAX_PAGE = 500
"""The largest `limit` of one page of artifacts."""

RESERVED_TAG_PREFIX = "flock:"
"""Tags the framework sets (a conversation turn's `flock:turn`); clients may not publish them."""


class BudgetRequest(BaseModel):
    """A workflow's budget in a publish request: the limits of `flock_core.Budget` (omitted: unlimited)."""

    model_config = ConfigDict(extra="forbid")

    max_calls: int | None = Field(default=None, ge=0, strict=True, description="The most model calls.")
    max_tokens: int | None = Field(default=None, ge=0, strict=True, description="The most input plus output tokens.")
    max_input_tokens: int | None = Field(default=None, ge=0, strict=True, description="The most input tokens.")
    max_output_tokens: int | None = Field(default=None, ge=0, strict=True, description="The most output tokens.")
    max_cost: float | None = Field(default=None, ge=0, allow_inf_nan=False, description="The most US dollars.")
    max_wall_time: float | None = Field(
        default=None, ge=0, allow_inf_nan=False, description="The most seconds from the workflow's start to a call."
    )

    def budget(self) -> Budget:
        """The `flock_core.Budget` with these limits."""
        return Budget(**self.model_dump())


class PublishRequest(BaseModel):
    """The body of `POST /api/v1/artifacts`."""

    model_config = ConfigDict(extra="forbid")

    type: str = Field(description="A registered type name (see GET /api/v1/types).")
    payload: dict[str, Any] = Field(description="The payload, validated against the type's JSON schema.")
    visibility: Visibility | None = Field(default=None, description="Who may see it (default: see docs).")
    tags: list[str] = Field(default_factory=list[str], max_length=100)
    correlation_id: str | None = Field(
        default=None,
        max_length=200,
        description="Join this existing workflow (it must hold artifacts, all visible to the caller); "
        "without it the artifact starts a new workflow.",
    )
    partition_key: str | None = Field(default=None, max_length=200)
    budget: BudgetRequest | None = Field(
        default=None,
        description="Limits on the model calls, tokens, cost and wall time of the new workflow (see docs/control.md); "
        "only when starting one: a workflow's budget cannot be changed by publishing into it.",
    )


def default_visibility(identity: AgentIdentity) -> Visibility:
    """The visibility of an artifact published without one: the caller's tenant if it has one, else public."""
    return PublicVisibility() if identity.tenant is None else TenantVisibility(tenant_id=identity.tenant)


def may_publish(visibility: Visibility, identity: AgentIdentity, now: datetime) -> bool:
    """A caller may publish only what it could itself see once any `AfterVisibility` delay has passed."""
    return is_visible(visibility, identity, created_at=now, now=visible_from(visibility, now))


def producer_of(identity: AgentIdentity) -> str:
    """The `produced_by` of an artifact published by `identity` over HTTP (it cannot pass for an agent).

    >>> producer_of(AgentIdentity("alice", tenant="acme"))
    'api:alice@acme'
    """
    return f"{API_PRODUCER_PREFIX}{identity}"


def refuse_framework_type(state: ServeState, type_name: str) -> None:
    """403 when `type_name` is one only the framework publishes (a client must not fail a workflow)."""
    if type_name in state.flock.registry and state.flock.registry.resolve(type_name) in framework_types():
        problem = f"{type_name!r} artifacts are published by the framework only"
        raise ApiError(403, "forbidden_type", problem, [{"field": "type", "message": problem}])


def resolve_type(state: ServeState, type_name: str) -> type[BaseModel]:
    """The model registered as `type_name`: 422 naming the unknown type."""
    try:
        return state.flock.registry.resolve(type_name)
    except TypeRegistrationError:
        problem = f"no type registered as {type_name!r}; see GET /api/v1/types"
        raise ApiError(422, "unknown_type", problem, [{"field": "type", "message": problem}]) from None


async def may_join(state: ServeState, identity: AgentIdentity, correlation_id: str) -> bool:
    """Whether the workflow exists and `identity` may see every artifact in it (once any delay has passed).

    A caller who may not join cannot tell a workflow it may not see from one that does not exist.
    """
    page = await state.flock.store.query(ArtifactQuery(correlation_id=correlation_id))
    now = state.flock.clock.now()
    return bool(page.items) and all(may_publish(a.visibility, identity, max(now, a.created_at)) for a in page.items)


def resolve_payload(state: ServeState, type_name: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Validate `payload` as the registered `type_name`: 422 naming the unknown type or each invalid field."""
    model = resolve_type(state, type_name)
    try:
        return model.model_validate(payload).model_dump(mode="json")
    except ValidationError as exc:
        raise invalid_payload(type_name, exc) from None


def invalid_payload(type_name: str, error: ValidationError) -> ApiError:
    """The 422 for a payload that does not validate, one detail per invalid field (`payload.<field>`)."""
    return ApiError(422, "invalid_payload", f"invalid {type_name!r} payload", validation_details(error, "payload"))


async def _publish(state: ServeState, request: Request) -> Response:
    identity = await state.identity(request)
    body = parse_body(PublishRequest, await read_json(request, state.max_body_bytes))
    refuse_framework_type(state, body.type)
    resolve_type(state, body.type)  # the payload is validated once, by `publish`
    visibility = body.visibility or default_visibility(identity)
    if not may_publish(visibility, identity, state.flock.clock.now()):
        raise ApiError(403, "forbidden_visibility", "a caller may only publish artifacts it could itself see")
    reserved = sorted(t for t in body.tags if t.startswith(RESERVED_TAG_PREFIX))
    if reserved:
        problem = f"tags starting with {RESERVED_TAG_PREFIX!r} are the framework's: {reserved}"
        raise ApiError(422, "reserved_tag", problem, [{"field": "tags", "message": problem}])
    if body.correlation_id is not None and not await may_join(state, identity, body.correlation_id):
        problem = f"no workflow {body.correlation_id!r} that this caller can see; omit it to start a new one"
        raise ApiError(404, "unknown_correlation", problem, [{"field": "correlation_id", "message": problem}])
    if body.correlation_id is not None and body.budget is not None:
        problem = "a budget is given when a workflow starts (without correlation_id), not to one that runs"
        raise ApiError(422, "invalid_budget", problem, [{"field": "budget", "message": problem}])
    try:
        artifact = await state.flock.publish(
            {"type": body.type, "payload": body.payload},
            visibility=visibility,
            correlation_id=body.correlation_id,
            partition_key=body.partition_key,
            tags=body.tags,
            produced_by=producer_of(identity),
            budget=None if body.budget is None else body.budget.budget(),
        )
    except PayloadValidationError as exc:
        if isinstance(exc.__cause__, ValidationError):
            raise invalid_payload(body.type, exc.__cause__) from None
        details = [{"field": "payload", "message": line} for line in exc.errors]
        raise ApiError(422, "invalid_payload", str(exc), details) from None
    except QueueFullError as exc:  # Flock(max_pending=..., when_full="raise"): the client should retry later
        raise ApiError(429, "queue_full", str(exc)) from None
    state.worker.wake()
    location = {"Location": f"/api/v1/artifacts/{artifact.id}"}
    return Response(artifact_json(artifact), status_code=201, headers=location, media_type="application/json")


def _timestamp(request: Request, name: str) -> datetime | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00").replace(" ", "+"))
    except ValueError:
        raise _bad_query(name, "not an ISO 8601 timestamp") from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _integer(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise _bad_query(name, f"must be an integer from {low} to {high}")
    return int(raw)


def _bad_query(name: str, problem: str) -> ApiError:
    return ApiError(422, "invalid_query", f"query parameter {name!r}: {problem}", [{"field": name, "message": problem}])


def _listing(request: Request) -> ArtifactQuery:
    params = request.query_params
    types, producers, tags = params.getlist("type"), params.getlist("produced_by"), params.getlist("tag")
    return ArtifactQuery(
        types=frozenset(types) or None,
        produced_by=frozenset(producers) or None,
        correlation_id=params.get("correlation_id") or None,
        tags=frozenset(tags) or None,
        since=_timestamp(request, "since"),
        until=_timestamp(request, "until"),
        offset=_integer(request, "offset", 0, 0, 2**31),
        limit=_integer(request, "limit", 50, 1, MAX_PAGE),
    )


async def _list(state: ServeState, request: Request) -> Response:
    identity = await state.identity(request)
    query = _listing(request)
    page = await state.flock.store.query(replace(query, visible_to=identity, now=state.flock.clock.now()))
    return json_response(
        {
            "items": [artifact_view(a) for a in page.items],
            "total": page.total,
            "offset": page.offset,
            "limit": query.limit,
            "next_offset": page.next_offset,
        }
    )


async def _get(state: ServeState, request: Request) -> Response:
    identity = await state.identity(request)
    raw = str(request.path_params["artifact_id"])
    try:
        artifact = await state.flock.store.get(UUID(raw))
    except ValueError:
        artifact = None
    if artifact is None or not state.can_see(artifact, identity):
        raise ApiError(404, "not_found", f"no artifact {raw!r}")
    return json_response(artifact_view(artifact))


def artifact_routes(state: ServeState) -> list[Route]:
    """The artifact routes bound to `state`."""

    async def publish(request: Request) -> Response:
        return await _publish(state, request)

    async def list_artifacts(request: Request) -> Response:
        return await _list(state, request)

    async def get_artifact(request: Request) -> Response:
        return await _get(state, request)

    return [
        Route("/api/v1/artifacts", publish, methods=["POST"], name="publish_artifact"),
        Route("/api/v1/artifacts", list_artifacts, methods=["GET"], name="list_artifacts"),
        Route("/api/v1/artifacts/{artifact_id}", get_artifact, methods=["GET"], name="get_artifact"),
    ]
