"""Agents, types and workflows: `/api/v1/agents`, `/api/v1/agents/{name}/run`, `/api/v1/types`, correlations."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..blackboard._artifacts import Artifact
from ..blackboard._visibility import AgentIdentity
from ..exceptions import FlockError, InputTypeError, PayloadValidationError, RuntimeFlockError
from ._artifact_routes import refuse_framework_type, resolve_payload
from ._http import ApiError, json_response, parse_body, read_json
from ._state import ServeState
from ._views import agent_view, artifact_view, status_view

__all__ = ["RunRequest", "agent_routes", "invoke_agent", "type_schemas", "visible_status"]


class RunRequest(BaseModel):
    """The body of `POST /api/v1/agents/{name}/run`."""

    model_config = ConfigDict(extra="forbid")

    type: str = Field(description="The registered type of the input.")
    payload: dict[str, Any] = Field(description="The input payload.")
    publish_outputs: bool = Field(
        default=False, description="Store the (public) input and the outputs, and route the outputs to subscribers."
    )


def type_schemas(state: ServeState) -> dict[str, dict[str, Any]]:
    """Every registered type name with its JSON schema."""
    registry = state.flock.registry
    return {name: registry.resolve(name).model_json_schema() for name in registry}


async def _types(state: ServeState, request: Request) -> Response:
    await state.identity(request)
    return json_response({"types": [{"name": n, "schema": s} for n, s in type_schemas(state).items()]})


async def _agents(state: ServeState, request: Request) -> Response:
    await state.identity(request)
    return json_response({"agents": [agent_view(spec) for spec in state.flock.agents.values()]})


async def invoke_agent(
    state: ServeState, name: str, type_name: str, payload: dict[str, Any], *, publish_outputs: bool
) -> list[Artifact]:
    """Run agent `name` directly on a validated payload; its failures as `ApiError`s (502 `agent_failed`)."""
    try:
        return await state.flock.invoke(name, {"type": type_name, "payload": payload}, publish_outputs=publish_outputs)
    except PayloadValidationError as exc:
        raise ApiError(422, "invalid_payload", str(exc)) from None
    except InputTypeError as exc:
        details = [{"field": "type", "message": str(exc)}]
        raise ApiError(422, "type_not_consumed", str(exc), details) from None
    except RuntimeFlockError as exc:
        raise ApiError(502, "agent_failed", str(exc)) from None
    except FlockError as exc:
        raise ApiError(500, "agent_error", str(exc)) from None
    except Exception as exc:  # an engine is the user's code: anything it raises is the agent failing, not the API
        raise ApiError(502, "agent_failed", f"agent {name!r} failed: {type(exc).__name__}: {exc}") from exc


async def _run(state: ServeState, request: Request) -> Response:
    identity = await state.identity(request)
    name = str(request.path_params["name"])
    if name not in state.flock.agents:
        raise ApiError(404, "not_found", f"no agent {name!r}")
    body = parse_body(RunRequest, await read_json(request, state.max_body_bytes))
    refuse_framework_type(state, body.type)
    payload = resolve_payload(state, body.type, body.payload)
    if body.publish_outputs and identity.tenant is not None:
        raise ApiError(
            403,
            "forbidden_visibility",
            "a published run stores its input with public visibility, which a caller with a tenant may not "
            "do; publish the input with POST /api/v1/artifacts instead",
        )
    outputs = await invoke_agent(state, name, body.type, payload, publish_outputs=body.publish_outputs)
    if body.publish_outputs:
        state.worker.wake()
    visible = [artifact_view(a) for a in outputs if state.can_see(a, identity)]
    return json_response({"agent": name, "published": body.publish_outputs, "outputs": visible})


async def visible_status(state: ServeState, identity: AgentIdentity, correlation_id: str) -> dict[str, Any]:
    """A workflow's status as `identity` may see it; 404 when it sees nothing of it (or it does not exist)."""
    status = await state.flock.get_correlation_status(correlation_id, visible_to=identity)
    if not status.artifact_count:
        raise ApiError(404, "not_found", f"no workflow {correlation_id!r}")
    return status_view(status)


async def _correlation(state: ServeState, request: Request) -> Response:
    identity = await state.identity(request)
    return json_response(await visible_status(state, identity, str(request.path_params["correlation_id"])))


def agent_routes(state: ServeState) -> list[Route]:
    """The agent, type and workflow routes bound to `state`."""

    async def types(request: Request) -> Response:
        return await _types(state, request)

    async def agents(request: Request) -> Response:
        return await _agents(state, request)

    async def run(request: Request) -> Response:
        return await _run(state, request)

    async def correlation(request: Request) -> Response:
        return await _correlation(state, request)

    return [
        Route("/api/v1/types", types, methods=["GET"], name="list_types"),
        Route("/api/v1/agents", agents, methods=["GET"], name="list_agents"),
        Route("/api/v1/agents/{name}/run", run, methods=["POST"], name="run_agent"),
        Route("/api/v1/correlations/{correlation_id}", correlation, methods=["GET"], name="get_correlation"),
    ]
