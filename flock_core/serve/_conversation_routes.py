"""`/api/v1/conversations/{id}`: take a turn in a conversation as the caller, and read its history.

A caller may take a turn in a new conversation, or in one whose opening message it may see: the opener's
audience is the conversation's. Replies and history are filtered by what the caller may see.
"""

from __future__ import annotations

from typing import Any

import anyio
from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..blackboard._store import ArtifactQuery
from ..blackboard._visibility import AgentIdentity, Visibility
from ..exceptions import ConfigurationError, ConversationClosedError, PayloadValidationError
from ..orchestration._conversation import check_conversation_id
from ..orchestration._events import FlockEvent
from ..orchestration._status import CorrelationStatus
from ._artifact_routes import (
    MAX_PAGE,
    default_visibility,
    may_publish,
    producer_of,
    refuse_framework_type,
    resolve_payload,
)
from ._http import ApiError, json_response, parse_body, read_json
from ._state import ServeState
from ._views import artifact_view

__all__ = ["MAX_WAIT_SECONDS", "TurnRequest", "conversation_routes"]

MAX_WAIT_SECONDS = 300.0
"""The longest a turn request waits for the agents to answer before it returns what is there (202)."""

_RECHECK_SECONDS = 1.0


class TurnRequest(BaseModel):
    """The body of `POST /api/v1/conversations/{conversation_id}/turns`."""

    model_config = ConfigDict(extra="forbid")

    type: str = Field(description="The registered type of the message (see GET /api/v1/types).")
    payload: dict[str, Any] = Field(description="The message, validated against the type's JSON schema.")
    visibility: Visibility | None = Field(
        default=None, description="Who may see the message (default: the caller's tenant, else public)."
    )
    wait_seconds: float = Field(
        default=30.0, ge=0, le=MAX_WAIT_SECONDS, description="How long to wait for the agents to finish the turn."
    )


def _conversation(request: Request) -> str:
    raw = str(request.path_params["conversation_id"])
    try:
        return check_conversation_id(raw)
    except ConfigurationError as exc:
        raise ApiError(
            422, "invalid_conversation", str(exc), [{"field": "conversation_id", "message": str(exc)}]
        ) from None


async def _may_take_part(state: ServeState, identity: AgentIdentity, conversation_id: str) -> bool:
    """A new conversation, or one whose opening message `identity` may see."""
    opening = await state.flock.store.query(ArtifactQuery(correlation_id=conversation_id, limit=1))
    return not opening.items or may_publish(opening.items[0].visibility, identity, state.flock.clock.now())


async def settle(state: ServeState, conversation_id: str, seconds: float) -> CorrelationStatus:
    """Wait up to `seconds` until the conversation has no work left; its status then (or at the deadline)."""
    flock = state.flock
    changed = anyio.Event()

    def observe(event: FlockEvent) -> None:
        if getattr(event, "correlation_id", None) == conversation_id or (
            event.kind == "artifact_published" and event.artifact.correlation_id == conversation_id
        ):
            changed.set()

    unsubscribe = flock.events.subscribe(observe)
    try:
        with anyio.move_on_after(seconds):
            while (status := await flock.get_correlation_status(conversation_id)).state == "active":
                with anyio.move_on_after(_RECHECK_SECONDS):  # work done by another process emits no event here
                    await changed.wait()
                changed = anyio.Event()
            return status
    finally:
        unsubscribe()
    return await flock.get_correlation_status(conversation_id)


async def _turn(state: ServeState, request: Request) -> Response:
    identity = await state.identity(request)
    conversation_id = _conversation(request)
    body = parse_body(TurnRequest, await read_json(request, state.max_body_bytes))
    refuse_framework_type(state, body.type)
    payload = resolve_payload(state, body.type, body.payload)
    visibility = body.visibility or default_visibility(identity)
    if not may_publish(visibility, identity, state.flock.clock.now()):
        raise ApiError(403, "forbidden_visibility", "a caller may only publish messages it could itself see")
    if not await _may_take_part(state, identity, conversation_id):
        raise ApiError(404, "not_found", f"no conversation {conversation_id!r} that this caller may take part in")
    chat = state.flock.conversation(conversation_id)
    try:
        message = await chat.publish(
            {"type": body.type, "payload": payload}, visibility=visibility, produced_by=producer_of(identity)
        )
    except ConversationClosedError as exc:
        raise ApiError(409, "conversation_closed", str(exc)) from None
    except PayloadValidationError as exc:
        raise ApiError(422, "invalid_payload", str(exc)) from None
    state.worker.wake()
    status = await settle(state, conversation_id, body.wait_seconds)
    turn = await chat.turn(message)
    settled = status.state != "active"
    data = {
        "conversation_id": conversation_id,
        "state": status.state,
        "settled": settled,
        "message": artifact_view(message),
        "replies": [artifact_view(a) for a in turn.replies if state.can_see(a, identity)],
    }
    return json_response(data, status=200 if settled else 202)


async def _history(state: ServeState, request: Request) -> Response:
    identity = await state.identity(request)
    conversation_id = _conversation(request)
    raw = request.query_params.get("limit", "100")
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE:
        problem = f"must be an integer from 1 to {MAX_PAGE}"
        raise ApiError(
            422, "invalid_query", f"query parameter 'limit': {problem}", [{"field": "limit", "message": problem}]
        )
    history = await state.flock.conversation(conversation_id).history(visible_to=identity)
    if not history:
        raise ApiError(404, "not_found", f"no conversation {conversation_id!r}")
    items = history[-int(raw) :]
    return json_response(
        {"conversation_id": conversation_id, "items": [artifact_view(a) for a in items], "total": len(history)}
    )


def conversation_routes(state: ServeState) -> list[Route]:
    """The conversation routes bound to `state`."""

    async def turn(request: Request) -> Response:
        return await _turn(state, request)

    async def history(request: Request) -> Response:
        return await _history(state, request)

    return [
        Route("/api/v1/conversations/{conversation_id}/turns", turn, methods=["POST"], name="take_turn"),
        Route("/api/v1/conversations/{conversation_id}", history, methods=["GET"], name="get_conversation"),
    ]
