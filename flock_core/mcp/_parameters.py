"""Flock's MCP connection parameters and the keyword form `add_mcp(name=, connection_params=, ...)`.

They translate to `McpServerSpec`, the one description of a server the client uses.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from ..exceptions import ConfigurationError
from ._spec import McpServerSpec

__all__ = ["StdioServerParameters", "StreamableHttpServerParameters", "server_spec"]


def _seconds(value: float | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


@dataclass(frozen=True, slots=True)
class StdioServerParameters:
    """A server started as `command args...`, speaking MCP over stdio (Flock's and the MCP SDK's name)."""

    command: str
    args: Sequence[str] = ()
    env: Mapping[str, str] | None = None
    cwd: str | None = None


@dataclass(frozen=True, slots=True)
class StreamableHttpServerParameters:
    """A server reached with the streamable-HTTP transport at `url` (Flock's name)."""

    url: str
    headers: Mapping[str, str] = field(default_factory=dict[str, str])
    timeout: float | timedelta = 30.0


def server_spec(
    spec: McpServerSpec | None,
    connection_params: StdioServerParameters | StreamableHttpServerParameters | None,
    *,
    enable_tools_feature: bool = True,
    tool_whitelist: Iterable[str] | None = None,
) -> McpServerSpec:
    """The `McpServerSpec` for `add_mcp`'s positional form (`spec`) or its keyword form (`connection_params`).

    With `enable_tools_feature=False` the server exposes no tools (this client uses only MCP tools).
    """
    if (spec is None) == (connection_params is None):
        raise ConfigurationError("add_mcp() needs exactly one of spec or connection_params=")
    tools = None if tool_whitelist is None else frozenset(tool_whitelist)
    if not enable_tools_feature:
        tools = frozenset[str]()
    if isinstance(connection_params, StdioServerParameters):
        return McpServerSpec.stdio(
            connection_params.command,
            connection_params.args,
            env=connection_params.env,
            cwd=connection_params.cwd,
            tools=tools,
        )
    if isinstance(connection_params, StreamableHttpServerParameters):
        return McpServerSpec.http(
            connection_params.url,
            headers=connection_params.headers,
            tools=tools,
            timeout=_seconds(connection_params.timeout),
        )
    if spec is None:
        raise ConfigurationError(
            f"connection_params must be StdioServerParameters or StreamableHttpServerParameters: {connection_params!r}"
        )
    return spec if tools is None else dataclasses.replace(spec, tools=tools)
