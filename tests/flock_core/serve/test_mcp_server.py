"""A Flock as an MCP server, used with the official MCP client over streamable HTTP and over stdio."""

from __future__ import annotations

import sys
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from flock_core import Flock
from flock_core.serve import start_server

from .conftest import KEYS, key, make_flock

pytestmark = pytest.mark.anyio

TOOLS = [
    "publish_artifact",
    "query_artifacts",
    "get_workflow_status",
    "run_agent",
    "list_types",
    "list_approvals",
    "decide_approval",
]


@asynccontextmanager
async def http_session(url: str, headers: dict[str, str]) -> AsyncGenerator[ClientSession]:
    """An initialized session of the official client on the streamable-HTTP transport."""
    async with (
        create_mcp_http_client(headers=headers) as http,
        streamable_http_client(url, http_client=http) as streams,
        ClientSession(streams[0], streams[1]) as session,
    ):
        await session.initialize()
        yield session


async def call(session: ClientSession, tool: str, **arguments: Any) -> tuple[bool, Any]:
    """`(is_error, structured content)` of one tool call."""
    result = await session.call_tool(tool, arguments)
    return bool(result.is_error), result.structured_content


async def wait_for_workflow(session: ClientSession, correlation_id: str, artifacts: int) -> dict[str, Any]:
    """The workflow's status once it holds `artifacts` artifacts and is done (an outside client must poll)."""
    with anyio.fail_after(10):
        while True:
            failed, status = await call(session, "get_workflow_status", correlation_id=correlation_id)
            assert not failed
            if status["state"] == "completed" and status["artifact_count"] == artifacts:
                return status
            await anyio.sleep(0.02)


@pytest.fixture
async def server_url() -> AsyncGenerator[str]:
    async with await start_server(make_flock(), port=0, auth=KEYS, dashboard=False, mcp=True) as handle:
        yield f"{handle.url}/mcp"


async def test_tools_over_streamable_http_act_as_the_caller(server_url: str) -> None:
    async with (
        http_session(server_url, key("admin")) as admin,
        http_session(server_url, key("alice")) as alice,
        http_session(server_url, key("bob")) as bob,
    ):
        listed = (await admin.list_tools()).tools
        assert [t.name for t in listed] == TOOLS
        publish_schema = next(t for t in listed if t.name == "publish_artifact").input_schema
        assert publish_schema["properties"]["type"]["enum"] == ["Answer", "Question", "WorkflowError"]
        assert publish_schema["required"] == ["type", "payload"]

        # A workflow started over MCP runs on the server: the answerer answers.
        failed, question = await call(admin, "publish_artifact", type="Question", payload={"text": "why?"})
        assert (failed, question["type"], question["visibility"]) == (False, "Question", {"kind": "public"})
        workflow = question["correlation_id"]
        assert (await wait_for_workflow(admin, workflow, artifacts=2))["error_count"] == 0
        failed, page = await call(admin, "query_artifacts", correlation_id=workflow)
        assert [(a["type"], a["payload"]["text"]) for a in page["items"]] == [("Question", "why?"), ("Answer", "WHY?")]

        # A tenant's artifact is its tenant's: another tenant sees none of it, not even that the workflow exists.
        failed, secret = await call(alice, "publish_artifact", type="Question", payload={"text": "acme only"})
        assert (failed, secret["visibility"]) == (False, {"kind": "tenant", "tenant_id": "acme"})
        private = secret["correlation_id"]
        failed, page = await call(alice, "query_artifacts", correlation_id=private)
        assert [a["id"] for a in page["items"]] == [secret["id"]]
        assert await call(bob, "query_artifacts", correlation_id=private) == (
            False,
            {"items": [], "total": 0, "offset": 0, "next_offset": None},
        )
        failed, page = await call(bob, "query_artifacts", types=["Question"])
        assert [a["id"] for a in page["items"]] == [question["id"]]  # the public one only
        failed, error = await call(bob, "get_workflow_status", correlation_id=private)
        assert (failed, error["error"]["code"]) == (True, "not_found")

        failed, run = await call(bob, "run_agent", agent="answerer", type="Question", payload={"text": "hi"})
        assert (failed, [o["payload"] for o in run["outputs"]]) == (False, [{"text": "HI"}])


async def test_bad_arguments_are_tool_errors_naming_the_field(server_url: str) -> None:
    async with http_session(server_url, key("alice")) as alice:
        result = await alice.call_tool("publish_artifact", {"type": "Question", "payload": {"priority": 9}})
        assert result.is_error
        assert result.content[0].text == (  # type: ignore[union-attr]
            "invalid_payload: invalid 'Question' payload "
            "(payload.text: Field required; payload.priority: Input should be less than or equal to 5)"
        )
        failed, error = await call(alice, "query_artifacts", limit=0)
        assert (failed, error["error"]["details"][0]["field"]) == (True, "limit")
        failed, error = await call(alice, "run_agent", agent="nobody", type="Question", payload={"text": "x"})
        assert (failed, error["error"]["code"]) == (True, "not_found")


async def test_a_caller_without_credentials_is_refused(server_url: str) -> None:
    initialize = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}}
    headers = {"Accept": "application/json, text/event-stream"}
    async with httpx.AsyncClient() as http:
        for credentials in ({}, {"Authorization": "Bearer wrong"}):
            refused = await http.post(server_url, json=initialize, headers={**headers, **credentials})
            assert (refused.status_code, refused.json()["error"]["code"]) == (401, "unauthorized")
    with pytest.raises(ExceptionGroup):  # what the official client makes of a 401
        async with http_session(server_url, {}) as session:
            await session.list_tools()


def flock_command(*args: str) -> StdioServerParameters:
    """`flock ARGS...` run in this directory (where `mcp_stdio_app.py` is), as the official client starts it."""
    code = "import sys; from flock_core.cli._main import main; sys.exit(main())"
    return StdioServerParameters(command=sys.executable, args=["-c", code, *args], cwd=str(Path(__file__).parent))


async def test_tools_over_stdio_act_as_the_identity_given_and_the_work_runs() -> None:
    params = flock_command("serve", "mcp_stdio_app:flock", "--mcp-stdio", "--as", "alice@acme")
    async with stdio_client(params) as streams, ClientSession(streams[0], streams[1]) as session:
        await session.initialize()
        assert [t.name for t in (await session.list_tools()).tools] == TOOLS
        failed, question = await call(session, "publish_artifact", type="Question", payload={"text": "over stdio"})
        assert (failed, question["visibility"]) == (False, {"kind": "tenant", "tenant_id": "acme"})
        await wait_for_workflow(session, question["correlation_id"], artifacts=2)  # acme's agent answered
        failed, page = await call(session, "query_artifacts", correlation_id=question["correlation_id"])
        assert [a["produced_by"] for a in page["items"]] == ["api:alice@acme", "acme_answerer"]
        failed, run = await call(session, "run_agent", agent="answerer", type="Question", payload={"text": "hi"})
        assert (failed, [o["payload"] for o in run["outputs"]]) == (False, [{"text": "HI"}])


def test_create_app_mounts_mcp_only_when_asked() -> None:
    flock: Flock = make_flock()
    from flock_core.serve import create_app

    paths = {getattr(r, "path", None) for r in create_app(flock, mcp=True).routes}
    assert "/mcp" in paths
    assert "/mcp" not in {getattr(r, "path", None) for r in create_app(make_flock()).routes}
    assert "/mcp" in {getattr(r, "path", None) for r in make_flock().app(mcp=True).routes}
