"""`McpToolbox`: named MCP servers, connected on first use, and their tools as Python callables."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast

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
_T = TypeVar("_T")


def _address(spec: McpServerSpec) -> str:
    """Where the server is: its URL, or its command line."""
    return spec.url if spec.url is not None else " ".join((cast(str, spec.command), *spec.args))


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
        from ._session import Session, SessionLoop, describe  # the `mcp` client library loads at first use

        with self._lock:
            if server not in self._sessions:
                if self._loop is None:
                    self._loop = SessionLoop()
                try:
                    self._sessions[server] = Session(spec, self._loop)
                except Exception as exc:
                    raise McpError(server, f"cannot connect to {_address(spec)}: {describe(exc)}") from exc
            return self._sessions[server]

    def _drop(self, server: str, session: Session) -> None:
        """Forget `session` (closing it quietly) so that the next use of `server` connects anew."""
        with self._lock:
            if self._sessions.get(server) is session:
                del self._sessions[server]
        session.close()

    def _on_session(self, server: str, operation: Callable[[Session], _T], tool: str | None = None) -> _T:
        """Run `operation` on the session of `server`; once more on a new session if the connection was lost.

        A server that restarted (or dropped the connection) is reconnected transparently. A call whose
        connection was lost is sent once more, so a tool with side effects may run twice then. A timeout
        drops the session too (a hung server is reconnected on the next use) but is not retried.
        """
        from ._session import connection_lost, describe

        for attempt in (1, 2):
            session = self._session(server)
            try:
                return operation(session)
            except TimeoutError:
                self._drop(server, session)
                raise McpError(server, f"no answer within {session.spec.timeout} s", tool=tool) from None
            except Exception as exc:
                if not connection_lost(exc):
                    raise McpError(server, describe(exc), tool=tool) from exc
                self._drop(server, session)
                if attempt == 2:
                    problem = f"lost the connection to {_address(session.spec)}: {describe(exc)}"
                    raise McpError(server, problem, tool=tool) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _listing(self, server: str) -> tuple[McpTool, ...]:
        with self._lock:
            cached = self._tools.get(server)
        if cached is None:
            listed = self._on_session(server, lambda session: session.list_tools())
            with self._lock:
                cached = self._tools.setdefault(server, tuple(McpTool.from_wire(server, t) for t in listed))
        return cached

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
        sent = dict(arguments or {})

        def call_tool() -> dict[str, Any]:
            return self._on_session(server, lambda session: session.call_tool(tool, sent), tool)

        result = await anyio.to_thread.run_sync(call_tool, abandon_on_cancel=True)
        text = result_text(result)
        if result.get("isError"):
            raise McpError(server, text or "the tool reported an error", tool=tool)
        return text

    def _close_all(self) -> None:
        with self._lock:
            sessions, self._sessions, self._tools = list(self._sessions.values()), {}, {}
            loop, self._loop = self._loop, None
        try:
            for session in sessions:
                session.close()
        finally:
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
