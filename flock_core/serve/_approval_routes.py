"""Human approval over HTTP: list the held outputs the caller may decide, approve or reject them.

The approver is the authenticated caller. A caller lists, and may decide, only the requests that name it
among their approvers and whose every held output it may see; for any other id (unknown, decided, or not
the caller's to decide) the answer is the same 404, so it reveals nothing.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..exceptions import ApprovalError
from ._control_routes import DecisionRequest, optional_body
from ._http import ApiError, json_response, parse_body
from ._state import ServeState
from ._views import approval_view, artifact_view

__all__ = ["approval_routes"]


async def _list(state: ServeState, request: Request) -> Response:
    identity = await state.identity(request)
    cid = request.query_params.get("correlation_id") or None
    requests = await state.flock.approvals(identity, correlation_id=cid)
    return json_response({"approvals": [approval_view(r) for r in requests]})


async def _decide(state: ServeState, request: Request, approve: bool) -> Response:
    identity = await state.identity(request)
    approval_id = str(request.path_params["approval_id"])
    body = parse_body(DecisionRequest, await optional_body(state, request))
    try:
        if approve:
            published = await state.flock.approve(approval_id, by=identity, reason=body.reason)
        else:
            published = [await state.flock.reject(approval_id, by=identity, reason=body.reason)]
    except ApprovalError as exc:
        raise ApiError(404, "not_found", str(exc)) from None
    state.worker.wake()
    visible = [artifact_view(a) for a in published if state.can_see(a, identity)]
    outcome = "approved" if approve else "rejected"
    return json_response({"approval_id": approval_id, "outcome": outcome, "by": str(identity), "published": visible})


def approval_routes(state: ServeState) -> list[Route]:
    """The approval routes bound to `state`."""

    async def listing(request: Request) -> Response:
        return await _list(state, request)

    async def approve(request: Request) -> Response:
        return await _decide(state, request, True)

    async def reject(request: Request) -> Response:
        return await _decide(state, request, False)

    return [
        Route("/api/v1/approvals", listing, methods=["GET"], name="list_approvals"),
        Route("/api/v1/approvals/{approval_id}/approve", approve, methods=["POST"], name="approve"),
        Route("/api/v1/approvals/{approval_id}/reject", reject, methods=["POST"], name="reject"),
    ]
