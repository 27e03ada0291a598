"""Cancel, pause and resume over HTTP: one workflow (`/api/v1/correlations/{id}/...`) or the whole board.

A caller may control a workflow only if it may see at least one of its artifacts; otherwise the answer is
the 404 of a workflow that does not exist, so it reveals nothing. Pausing or resuming the whole board
acts on every tenant's work, so a caller with a tenant is refused (403).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..blackboard._store import ArtifactQuery
from ..blackboard._visibility import AgentIdentity
from ._http import ApiError, json_response, parse_body, read_json
from ._state import ServeState

__all__ = ["CancelRequest", "DecisionRequest", "control_routes", "optional_body", "require_workflow"]


class CancelRequest(BaseModel):
    """The (optional) body of `POST /api/v1/correlations/{correlation_id}/cancel`."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(default="cancelled over HTTP", max_length=2000, description="Why it is cancelled.")


class DecisionRequest(BaseModel):
    """The (optional) body of an approval decision."""

    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, max_length=2000, description="Why; recorded with the decision.")


async def optional_body(state: ServeState, request: Request) -> dict[str, Any]:
    """The JSON body, or `{}` when the request has none."""
    if request.headers.get("content-length", "0") == "0" and "transfer-encoding" not in request.headers:
        return {}
    return await read_json(request, state.max_body_bytes)


async def require_workflow(state: ServeState, identity: AgentIdentity, correlation_id: str) -> int:
    """How many of the workflow's artifacts `identity` may see; 404 (as for no workflow) when none."""
    seen = ArtifactQuery(correlation_id=correlation_id, visible_to=identity, now=state.flock.clock.now(), limit=1)
    page = await state.flock.store.query(seen)
    if not page.total:
        raise ApiError(404, "not_found", f"no workflow {correlation_id!r}")
    return page.total


async def _cancel(state: ServeState, request: Request) -> Response:
    identity = await state.identity(request)
    cid = str(request.path_params["correlation_id"])
    await require_workflow(state, identity, cid)
    body = parse_body(CancelRequest, await optional_body(state, request))
    cancelled = await state.flock.cancel(cid, reason=body.reason)
    return json_response({"correlation_id": cid, "state": "cancelled", "cancelled_work_items": cancelled})


async def _pause(state: ServeState, request: Request, paused: bool) -> Response:
    identity = await state.identity(request)
    cid = str(request.path_params["correlation_id"])
    await require_workflow(state, identity, cid)
    await (state.flock.pause(cid) if paused else state.flock.resume(cid))
    if not paused:
        state.worker.wake()
    return json_response({"correlation_id": cid, "paused": paused})


async def _board(state: ServeState, request: Request, paused: bool) -> Response:
    identity = await state.identity(request)
    if identity.tenant is not None:
        raise ApiError(403, "forbidden", "pausing or resuming the whole board needs a caller without a tenant")
    await (state.flock.pause() if paused else state.flock.resume())
    if not paused:
        state.worker.wake()
    return json_response({"correlation_id": None, "paused": paused})


def control_routes(state: ServeState) -> list[Route]:
    """The cancel, pause and resume routes bound to `state`."""

    async def cancel(request: Request) -> Response:
        return await _cancel(state, request)

    async def pause(request: Request) -> Response:
        return await _pause(state, request, True)

    async def resume(request: Request) -> Response:
        return await _pause(state, request, False)

    async def pause_board(request: Request) -> Response:
        return await _board(state, request, True)

    async def resume_board(request: Request) -> Response:
        return await _board(state, request, False)

    base = "/api/v1/correlations/{correlation_id}"
    return [
        Route(f"{base}/cancel", cancel, methods=["POST"], name="cancel_workflow"),
        Route(f"{base}/pause", pause, methods=["POST"], name="pause_workflow"),
        Route(f"{base}/resume", resume, methods=["POST"], name="resume_workflow"),
        Route("/api/v1/board/pause", pause_board, methods=["POST"], name="pause_board"),
        Route("/api/v1/board/resume", resume_board, methods=["POST"], name="resume_board"),
    ]
