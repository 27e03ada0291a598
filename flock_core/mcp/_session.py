"""Live MCP sessions, owned by one event loop in a daemon thread so they outlive any caller's task.

The MCP SDK's transports are async context managers whose tasks must be entered and exited by the same
task. Agents call tools from many tasks, and a Flock may be run by several `anyio.run` calls in a row, so
every session lives on a loop of its own (`SessionLoop`); callers reach it through an anyio blocking
portal from a worker thread. Only the MCP wire format (`by_alias` dumps) is read, which mcp 1.x and 2.x
share.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import AsyncGenerator, Mapping
from concurrent.futures import Future
from contextlib import AbstractContextManager, AsyncExitStack, asynccontextmanager
from typing import Any, cast

import anyio
from anyio.from_thread import BlockingPortal
from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.client import streamable_http

from ._spec import McpServerSpec

__all__ = ["Session", "SessionLoop", "connection_lost", "describe", "open_session"]

_log = logging.getLogger("flock_core.mcp")
_CONNECTION_CLOSED = -32000
"""The MCP error code of a request whose connection closed (`mcp.types.CONNECTION_CLOSED`)."""


def _leaf(error: BaseException) -> BaseException:
    """The first real error inside (nested) exception groups, which anyio task groups wrap errors in."""
    leaf: BaseException = error
    while isinstance(leaf, BaseExceptionGroup):
        inner: tuple[BaseException, ...] = cast(BaseExceptionGroup[BaseException], leaf).exceptions
        if not inner:
            break
        leaf = inner[0]
    return cast(BaseException, leaf)


def describe(error: BaseException) -> str:
    """`"Type: message"` of the error that caused `error`, unwrapped from task groups; never a traceback.

    >>> describe(ExceptionGroup("unhandled errors in a TaskGroup", [ConnectionRefusedError("refused")]))
    'ConnectionRefusedError: refused'
    """
    cause = _leaf(error)
    text = str(cause).strip().splitlines()[0] if str(cause).strip() else ""
    return f"{type(cause).__name__}: {text}" if text else type(cause).__name__


def connection_lost(error: BaseException) -> bool:
    """Whether `error` says the connection to the server is gone (so a new session may succeed)."""
    cause = _leaf(error)
    if isinstance(cause, OSError | anyio.ClosedResourceError | anyio.BrokenResourceError | anyio.EndOfStream):
        return True
    if type(cause).__module__.startswith("httpx"):
        return True
    code = getattr(getattr(cause, "error", None), "code", None)
    return code == _CONNECTION_CLOSED or "connection closed" in str(cause).lower()


@asynccontextmanager
async def _http_streams(spec: McpServerSpec) -> AsyncGenerator[tuple[Any, ...]]:
    """The streamable-HTTP transport of mcp 2.x (`streamable_http_client`) or of mcp 1.x."""
    modern: Any = getattr(streamable_http, "streamable_http_client", None)
    url = cast(str, spec.url)
    if modern is None:
        legacy: Any = getattr(streamable_http, "streamablehttp_client")  # noqa: B009 - absent from mcp 2 stubs
        async with legacy(url, headers=dict(spec.headers), timeout=spec.timeout) as streams:
            yield tuple(streams)
        return
    from mcp.shared._httpx_utils import create_mcp_http_client

    async with create_mcp_http_client(headers=dict(spec.headers)) as client, modern(url, http_client=client) as streams:
        yield tuple(streams)


@asynccontextmanager
async def open_session(spec: McpServerSpec) -> AsyncGenerator[ClientSession]:
    """Connect to the server of `spec` and complete the MCP handshake."""
    async with AsyncExitStack() as stack:
        if spec.transport == "stdio":
            env = None if spec.env is None else dict(spec.env)
            params = StdioServerParameters(command=cast(str, spec.command), args=list(spec.args), env=env, cwd=spec.cwd)
            streams: tuple[Any, ...] = tuple(await stack.enter_async_context(stdio_client(params)))
        else:
            streams = await stack.enter_async_context(_http_streams(spec))
        session = await stack.enter_async_context(ClientSession(streams[0], streams[1]))
        with anyio.fail_after(spec.timeout):
            await session.initialize()
        yield session


async def _list_tools(session: ClientSession, timeout: float) -> list[dict[str, Any]]:
    from mcp.types import PaginatedRequestParams

    tools: list[dict[str, Any]] = []
    cursor: str | None = None
    with anyio.fail_after(timeout):
        while True:
            params = None if cursor is None else PaginatedRequestParams(cursor=cursor)
            page = (await session.list_tools(params=params)).model_dump(mode="json", by_alias=True, exclude_none=True)
            tools.extend(page.get("tools", []))
            cursor = page.get("nextCursor")
            if not cursor:
                return tools


async def _call_tool(session: ClientSession, name: str, arguments: dict[str, Any], timeout: float) -> dict[str, Any]:
    with anyio.fail_after(timeout):
        result = await session.call_tool(name, arguments)
    return result.model_dump(mode="json", by_alias=True, exclude_none=True)


class SessionLoop:
    """An event loop in a daemon thread, reached through a blocking portal (use from worker threads)."""

    def __init__(self) -> None:
        ready: Future[BlockingPortal] = Future()
        self._thread = threading.Thread(target=self._main, args=(ready,), name="flock-mcp", daemon=True)
        self._thread.start()
        self.portal = ready.result()

    @staticmethod
    def _main(ready: Future[BlockingPortal]) -> None:
        async def serve() -> None:
            async with BlockingPortal() as portal:
                ready.set_result(portal)
                await portal.sleep_until_stopped()

        anyio.run(serve)

    def stop(self) -> None:
        """Cancel what still runs on the loop and end the thread."""
        with contextlib.suppress(RuntimeError):  # the portal had already stopped: the thread is ending by itself
            self.portal.call(self.portal.stop, True)
        self._thread.join()


class Session:
    """One open MCP session on a `SessionLoop`; every method blocks, so call them from worker threads."""

    def __init__(self, spec: McpServerSpec, loop: SessionLoop) -> None:
        self.spec = spec
        self._loop = loop
        self._context: AbstractContextManager[ClientSession] = loop.portal.wrap_async_context_manager(
            open_session(spec)
        )
        self._session = self._context.__enter__()

    def list_tools(self) -> list[dict[str, Any]]:
        """Every tool the server offers, in the MCP wire format (`name`, `description`, `inputSchema`)."""
        return self._loop.portal.call(_list_tools, self._session, self.spec.timeout)

    def call_tool(self, name: str, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """Call one tool; the result in the wire format (`content`, `isError`, `structuredContent`)."""
        return self._loop.portal.call(_call_tool, self._session, name, dict(arguments), self.spec.timeout)

    def close(self) -> None:
        """End the session (and stop a stdio server's process). Never raises: a dead session is closed too."""
        try:
            self._context.__exit__(None, None, None)
        except Exception as exc:  # noqa: BLE001 - a dead server's transport fails its own teardown; closing must not
            _log.debug("closing MCP server session %s: %s", self.spec.url or self.spec.command, describe(exc))
