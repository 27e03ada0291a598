"""`/api/v1/dead-letters`: list and replay work that failed for good, each caller only what it may see.

A caller sees (and may replay) a dead letter only when it may see every one of its inputs: the error
message of a failed activation may quote them. A dead letter without inputs (a timer tick) or whose
inputs are gone is hidden from every HTTP caller; replay it from Python or the CLI.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..blackboard._visibility import AgentIdentity
from ..orchestration._dead_letters import DeadLetter
from ._http import ApiError, json_response
from ._state import ServeState

__all__ = ["dead_letter_routes"]


async def _visible(state: ServeState, request: Request, identity: AgentIdentity) -> list[DeadLetter]:
    params = request.query_params
    return await state.flock.dead_letters(
        agent=params.get("agent") or None,
        correlation_id=params.get("correlation_id") or None,
        visible_to=identity,
    )


async def _list(state: ServeState, request: Request) -> Response:
    identity = await state.identity(request)
    return json_response({"items": [d.as_json() for d in await _visible(state, request, identity)]})


async def _replay_one(state: ServeState, request: Request) -> Response:
    identity = await state.identity(request)
    key = str(request.path_params["key"])
    letters = await state.flock.dead_letters(visible_to=identity)
    if not any(d.key == key for d in letters) or not await state.flock.replay(key):
        raise ApiError(404, "not_found", f"no dead letter {key!r}")
    state.worker.wake()
    return json_response({"replayed": 1})


async def _replay_all(state: ServeState, request: Request) -> Response:
    identity = await state.identity(request)
    replayed = sum([await state.flock.replay(d.key) for d in await _visible(state, request, identity)])
    if replayed:
        state.worker.wake()
    return json_response({"replayed": replayed})


def dead_letter_routes(state: ServeState) -> list[Route]:
    """The dead-letter routes bound to `state`."""

    async def list_dead_letters(request: Request) -> Response:
        return await _list(state, request)

    async def replay_dead_letter(request: Request) -> Response:
        return await _replay_one(state, request)

    async def replay_dead_letters(request: Request) -> Response:
        return await _replay_all(state, request)

    return [
        Route("/api/v1/dead-letters", list_dead_letters, methods=["GET"], name="list_dead_letters"),
        Route("/api/v1/dead-letters/replay", replay_dead_letters, methods=["POST"], name="replay_dead_letters"),
        Route("/api/v1/dead-letters/{key}/replay", replay_dead_letter, methods=["POST"], name="replay_dead_letter"),
    ]
