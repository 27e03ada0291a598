"""`McpToolbox`: named MCP servers, connected on first use, and their tools as Python callables."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, cast

import anyio

from ..exceptions import ConfigurationError
from ._errors import McpError
from ._spec import McpServerSpec
from ._tools import McpTool, ToolFunction, result_text, tool_function

if TYPE_CHECKING:
    from ._session import Session, SessionLoop

__all__ = ["McpToolbox", "ServerSelection"]

ServerSelection = Iterable[str] | Mapping[str, Iterable[str] | None]
"""Server names, or server names mapped to the tool names wanted from each (`None`: all of them)."""

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")


class McpToolbox:
    """The MCP servers a Flock knows. Nothing connects until a tool list or a call needs the server.

    Sessions live on a daemon thread with its own event loop, so one toolbox serves every task and every
    `anyio.run` of a program. Close it with `await toolbox.aclose()` (or `async with toolbox:`). The `mcp`
    package is imported on the first connection only, so declaring servers works without it.
    """

    def __init__(self) -> None:
        self._specs: dict[str, McpServerSpec] = {}
        self._sessions: dict[str, Session] = {}
        self._tools: dict[str, tuple[McpTool, ...]] = {}
        self._loop: SessionLoop | None = None
        self._lock = threading.Lock()

    @property
    def servers(self) -> Mapping[str, McpServerSpec]:
        """The added servers, by name."""
        return dict(self._specs)

    def add(self, name: str, spec: McpServerSpec) -> None:
        """Add a server under `name` (letters, digits, `_`, `-`; starting with a letter)."""
        if not _NAME.match(name) or "__" in name:
            raise ConfigurationError(f"MCP server name {name!r} must match {_NAME.pattern} and not contain '__'")
        if name in self._specs:
            raise ConfigurationError(f"an MCP server named {name!r} is already added")
        self._specs[name] = spec

    def _spec(self, server: str) -> McpServerSpec:
        if server not in self._specs:
            raise ConfigurationError(f"unknown MCP server {server!r}; added servers: {sorted(self._specs)}")
        return self._specs[server]

    def _session(self, server: str) -> Session:
        """The open session of `server`, connecting first if needed (blocking: run in a worker thread)."""
        spec = self._spec(server)
        from ._session import Session, SessionLoop  # the `mcp` client library loads when a server is first used

        with self._lock:
            if server not in self._sessions:
                if self._loop is None:
                    self._loop = SessionLoop()
                try:
                    self._sessions[server] = Session(spec, self._loop)
                except Exception as exc:
                    raise McpError(server, f"cannot connect: {type(exc).__name__}: {exc}") from exc
            return self._sessions[server]

    def _listing(self, server: str) -> tuple[McpTool, ...]:
        session = self._session(server)
        with self._lock:
            if server not in self._tools:
                self._tools[server] = tuple(McpTool.from_wire(server, t) for t in session.list_tools())
            return self._tools[server]

    async def list_tools(self, server: str) -> tuple[McpTool, ...]:
        """Every tool `server` offers (listed once, then cached), whitelist or not."""
        self._spec(server)
        return await anyio.to_thread.run_sync(self._listing, server, abandon_on_cancel=True)

    def _allowed(self, server: str, wanted: Iterable[str] | None, offered: tuple[McpTool, ...]) -> list[McpTool]:
        names = {t.name for t in offered}
        for rule in (self._spec(server).tools, None if wanted is None else frozenset(wanted)):
            if rule is not None and not rule <= names:
                raise McpError(server, f"no tools named {sorted(rule - names)}; it offers {sorted(names)}")
            if rule is not None:
                names &= rule
        return [t for t in offered if t.name in names]

    async def tools(self, servers: ServerSelection | None = None) -> tuple[ToolFunction, ...]:
        """The tools of `servers` (default: all added servers) as async functions named `{server}__{tool}`.

        A server's whitelist (`McpServerSpec.tools`) and the names given per server both restrict the list;
        naming a tool the server does not offer raises `McpError`.
        """
        selection: Mapping[str, Iterable[str] | None]
        if servers is None:
            selection = dict[str, Iterable[str] | None].fromkeys(self._specs)
        elif isinstance(servers, Mapping):
            selection = cast(Mapping[str, Iterable[str] | None], servers)
        else:
            selection = dict[str, Iterable[str] | None].fromkeys(servers)
        functions: list[ToolFunction] = []
        for server, wanted in selection.items():
            for tool in self._allowed(server, wanted, await self.list_tools(server)):
                functions.append(tool_function(tool, self._caller(tool)))
        return tuple(functions)

    def _caller(self, tool: McpTool) -> Any:
        async def call(arguments: dict[str, Any]) -> str:
            return await self.call(tool.server, tool.name, arguments)

        return call

    async def call(self, server: str, tool: str, arguments: Mapping[str, Any] | None = None) -> str:
        """Call `tool` on `server` and return its text; a tool error or a timeout raises `McpError`."""
        whitelist = self._spec(server).tools
        if whitelist is not None and tool not in whitelist:
            raise McpError(server, "not in the server's tool whitelist", tool=tool)
        session = await anyio.to_thread.run_sync(self._session, server, abandon_on_cancel=True)
        try:
            result = await anyio.to_thread.run_sync(
                session.call_tool, tool, dict(arguments or {}), abandon_on_cancel=True
            )
        except TimeoutError:
            raise McpError(server, f"no answer within {session.spec.timeout} s", tool=tool) from None
        except Exception as exc:
            raise McpError(server, f"{type(exc).__name__}: {exc}", tool=tool) from exc
        text = result_text(result)
        if result.get("isError"):
            raise McpError(server, text or "the tool reported an error", tool=tool)
        return text

    def _close_all(self) -> None:
        with self._lock:
            sessions, self._sessions, self._tools = list(self._sessions.values()), {}, {}
            loop, self._loop = self._loop, None
        for session in sessions:
            session.close()
        if loop is not None:
            loop.stop()

    async def aclose(self) -> None:
        """Close every session (stdio servers exit) and stop the session thread; the toolbox can reconnect."""
        await anyio.to_thread.run_sync(self._close_all)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
