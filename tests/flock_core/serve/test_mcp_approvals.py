"""The MCP approval tools: a caller lists and decides only the held outputs it may, as the HTTP API."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from flock_core import AgentIdentity, Flock
from flock_core.serve._app import build_app
from flock_core.serve._http import ApiError
from flock_core.serve._mcp_tools import call_tool
from flock_core.serve._state import ServeState
from flock_core.testing import FunctionEngine

from .conftest import ALICE, BOB, Answer, Question

pytestmark = pytest.mark.anyio


def answer(request: object) -> list[BaseModel]:
    return [Answer(text=request.payloads[0].text.upper())]  # type: ignore[attr-defined]


async def served() -> tuple[Flock, ServeState]:
    flock = Flock(engine=FunctionEngine(answer))
    flock.register_type(Question)
    flock.register_type(Answer)
    flock.agent("answerer").tenant("acme").consumes(Question).publishes(Answer).requires_approval(
        [str(ALICE), str(BOB)]
    )
    _, state = build_app(flock, auth=None, max_body_bytes=10_000, dashboard=False, drive="api")
    await call_tool(state, ALICE, "publish_artifact", {"type": "Question", "payload": {"text": "secret"}})
    await flock.run_until_idle()
    return flock, state


async def test_the_tools_list_and_decide_only_what_the_caller_may() -> None:
    flock, state = await served()
    [request] = await flock.approvals()
    for outsider in (BOB, AgentIdentity("mallory", tenant="acme")):  # bob may not see acme's answer
        assert await call_tool(state, outsider, "list_approvals", {}) == {"approvals": []}
        with pytest.raises(ApiError) as refused:
            await call_tool(state, outsider, "decide_approval", {"approval_id": request.id, "outcome": "approved"})
        assert (refused.value.status, refused.value.code) == (404, "not_found")
    listed = await call_tool(state, ALICE, "list_approvals", {})
    assert [a["id"] for a in listed["approvals"]] == [request.id]
    decided = await call_tool(
        state, ALICE, "decide_approval", {"approval_id": request.id, "outcome": "approved", "reason": "fine"}
    )
    assert (decided["outcome"], decided["by"], len(decided["published"])) == ("approved", "alice@acme", 1)
    assert [a.text for a in await flock.get_by_type(Answer)] == ["SECRET"]
