"""How to reach one MCP server: a command speaking MCP over stdio, or a streamable-HTTP endpoint."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

from ..exceptions import ConfigurationError

__all__ = ["McpServerSpec", "McpTransport"]

McpTransport: TypeAlias = Literal["stdio", "streamable-http"]


@dataclass(frozen=True, slots=True)
class McpServerSpec:
    """One MCP server. Build it with `McpServerSpec.stdio(...)` or `McpServerSpec.http(...)`.

    Attributes:
        transport: `"stdio"` (a subprocess) or `"streamable-http"` (a URL).
        command: the executable of a stdio server.
        args: its arguments.
        env: extra environment variables of the subprocess (merged over a minimal default environment).
        cwd: its working directory.
        url: the endpoint of a streamable-HTTP server.
        headers: HTTP headers sent to it (for example `Authorization`).
        tools: a whitelist of tool names to expose (`None`: all of them).
        timeout: seconds one tool call (and the connection) may take.

    >>> McpServerSpec.stdio("python", ["server.py"], tools=["add"]).tools
    frozenset({'add'})
    """

    transport: McpTransport
    command: str | None = None
    args: tuple[str, ...] = ()
    env: Mapping[str, str] | None = None
    cwd: str | None = None
    url: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict[str, str])
    tools: frozenset[str] | None = None
    timeout: float = 30.0

    def __post_init__(self) -> None:
        if self.transport == "stdio" and (not self.command or self.url is not None):
            raise ConfigurationError("a stdio MCP server needs a `command` and no `url`")
        if self.transport == "streamable-http" and (
            self.url is None or not self.url.startswith(("http://", "https://")) or self.command is not None
        ):
            raise ConfigurationError("a streamable-http MCP server needs an http(s) `url` and no `command`")
        if self.timeout <= 0:
            raise ConfigurationError(f"MCP timeout must be positive, got {self.timeout}")

    @classmethod
    def stdio(
        cls,
        command: str,
        args: Iterable[str] = (),
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        tools: Iterable[str] | None = None,
        timeout: float = 30.0,
    ) -> McpServerSpec:
        """A server started as `command args...`, speaking MCP over its stdin and stdout."""
        whitelist = None if tools is None else frozenset(tools)
        return cls("stdio", command, tuple(args), env, cwd, tools=whitelist, timeout=timeout)

    @classmethod
    def http(
        cls,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        tools: Iterable[str] | None = None,
        timeout: float = 30.0,
    ) -> McpServerSpec:
        """A server reached with the streamable-HTTP transport at `url`."""
        whitelist = None if tools is None else frozenset(tools)
        return cls("streamable-http", url=url, headers=dict(headers or {}), tools=whitelist, timeout=timeout)
