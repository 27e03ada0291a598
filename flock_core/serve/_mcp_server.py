"""A Flock as an MCP server: the tools of `_mcp_tools` over streamable HTTP (`/mcp` on the app) or stdio.

Over HTTP every request is authenticated with the app's `auth` before the MCP transport sees it (401 as
in the rest of the API), and each tool call authenticates its HTTP request again to act as that caller.
Over stdio the process serves one client, as the identity it was started with. The transport is
stateless JSON (no server-side MCP sessions), so a client survives a server restart. Needs the `mcp`
package (2.x): it is imported only when MCP serving is switched on.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import Any, cast

import mcp_types as types
from mcp.server.lowlevel import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from .._version import __version__
from ..blackboard._visibility import AgentIdentity
from ._auth import authenticate
from ._http import ApiError, error_response
from ._mcp_tools import MCP_TOOLS, call_tool, tool_schema
from ._state import ServeState

__all__ = ["McpEndpoint", "mcp_server", "run_mcp_stdio"]

_INSTRUCTIONS = (
    "A Flock: typed artifacts on a blackboard, processed by agents. Use list_types for the payload schemas, "
    "publish_artifact to start work, query_artifacts and get_workflow_status to follow it, run_agent to run one "
    "agent directly."
)


def _error_text(error: ApiError) -> str:
    fields = "; ".join(f"{d['field']}: {d['message']}" for d in error.details)
    return f"{error.code}: {error.message}" + (f" ({fields})" if fields else "")


def _result(data: dict[str, Any]) -> types.CallToolResult:
    content: list[types.ContentBlock] = [types.TextContent(type="text", text=json.dumps(data, ensure_ascii=False))]
    return types.CallToolResult(content=content, structured_content=data)


def _failure(error: ApiError) -> types.CallToolResult:
    body: dict[str, Any] = {"code": error.code, "message": error.message, "details": error.details}
    content: list[types.ContentBlock] = [types.TextContent(type="text", text=_error_text(error))]
    return types.CallToolResult(content=content, structured_content={"error": body}, is_error=True)


def mcp_server(state: ServeState, stdio_identity: AgentIdentity | None = None) -> Server[Any]:
    """The MCP server of `state`'s Flock. Callers over HTTP are authenticated; stdio acts as `stdio_identity`."""

    async def identity_of(request: object) -> AgentIdentity:
        if isinstance(request, Request):
            identity = await authenticate(cast(Request, request), state.auth)
        else:
            identity = stdio_identity
        if identity is None:  # no HTTP request and no stdio identity: fail closed
            raise ApiError(401, "unauthorized", "missing or invalid credentials")
        return identity

    async def list_tools(ctx: Any, params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
        tools = [
            types.Tool(
                name=tool.name,
                description=(tool.arguments.__doc__ or "").strip(),
                input_schema=tool_schema(state, tool),
                annotations=types.ToolAnnotations(read_only_hint=tool.read_only, destructive_hint=False),
            )
            for tool in MCP_TOOLS
        ]
        return types.ListToolsResult(tools=tools)

    async def call(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        try:
            identity = await identity_of(getattr(ctx, "request", None))
            return _result(await call_tool(state, identity, params.name, params.arguments))
        except ApiError as error:
            return _failure(error)

    return Server(
        "flock",
        version=__version__,
        instructions=_INSTRUCTIONS,
        on_list_tools=list_tools,
        on_call_tool=call,
    )


class McpEndpoint:
    """The ASGI endpoint of `/mcp`: authenticates the caller, then hands the request to the MCP transport.

    `run()` must be entered in the app's lifespan (the transport's task group lives there).
    """

    def __init__(self, state: ServeState) -> None:
        self._state = state
        self._manager = StreamableHTTPSessionManager(app=mcp_server(state), json_response=True, stateless=True)

    @asynccontextmanager
    async def run(self) -> AsyncGenerator[None]:
        """Run the MCP transport for as long as the app runs."""
        async with self._manager.run():
            yield

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and await authenticate(Request(scope), self._state.auth) is None:
            error = ApiError(401, "unauthorized", "missing or invalid credentials (Authorization: Bearer or X-API-Key)")
            await error_response(error)(scope, receive, send)
            return
        await self._manager.handle_request(scope, receive, send)


async def run_mcp_stdio(state: ServeState, identity: AgentIdentity) -> None:
    """Speak MCP over this process's stdin and stdout until the client closes them."""
    from mcp.server.stdio import stdio_server

    server = mcp_server(state, stdio_identity=identity)
    async with stdio_server() as (read_stream, write_stream):
        await server.run(read_stream, write_stream, server.create_initialization_options())
