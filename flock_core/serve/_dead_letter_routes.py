"""`/api/v1/dead-letters`: list and replay work that failed for good, each caller only what it may see.

A caller sees (and may replay) a dead letter only when it may see every one of its inputs: the error
message of a failed activation may quote them. A dead letter without inputs (a timer tick) or whose
inputs are gone is hidden from every HTTP caller; replay it from Python or the CLI.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..blackboard._artifacts import WorkflowError
from ..blackboard._store import ArtifactQuery
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


async def _failed_at(state: ServeState, identity: AgentIdentity, letter: DeadLetter) -> str | None:
    """When the dead letter last failed: the time of its latest `WorkflowError` the caller may see."""
    query = ArtifactQuery(
        types=frozenset({state.flock.registry.name_of(WorkflowError)}),
        correlation_id=letter.correlation_id,
        visible_to=identity,
        now=state.flock.clock.now(),
    )
    inputs = sorted(str(i) for i in letter.input_ids)
    times = [
        a.created_at
        for a in (await state.flock.store.query(query)).items
        if a.payload.get("agent") == letter.agent and sorted(a.payload.get("input_ids") or ()) == inputs
    ]
    return max(times).isoformat() if times else None


async def _list(state: ServeState, request: Request) -> Response:
    identity = await state.identity(request)
    letters = await _visible(state, request, identity)
    items = [{**d.as_json(), "failed_at": await _failed_at(state, identity, d)} for d in letters]
    return json_response({"items": items})


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
