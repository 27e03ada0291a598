"""A tiny MCP server for the tests: `python mcp_echo_server.py` (stdio) or `... http PORT` (streamable HTTP).

Written with the `mcp` package's high-level server: `MCPServer` in mcp 2.x, `FastMCP` in mcp 1.x.
"""

from __future__ import annotations

import sys
from typing import Any, Literal

try:
    from mcp.server.mcpserver import MCPServer as Server
except ImportError:  # mcp 1.x
    from mcp.server.fastmcp import FastMCP as Server  # pyright: ignore[reportAttributeAccessIssue]

server: Any = Server("echo")
mcp_2 = Server.__name__ == "MCPServer"


@server.tool()  # pyright: ignore[reportUntypedFunctionDecorator]
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@server.tool()  # pyright: ignore[reportUntypedFunctionDecorator]
def shout(text: str, times: int = 1, style: Literal["plain", "stars"] = "plain") -> str:
    """Repeat a text in capitals."""
    loud = " ".join([text.upper()] * times)
    return f"*{loud}*" if style == "stars" else loud


@server.tool()  # pyright: ignore[reportUntypedFunctionDecorator]
def fail(message: str) -> str:
    """Always fails with `message`."""
    raise ValueError(message)


def main(argv: list[str]) -> None:
    if argv[1:2] == ["http"]:
        port = int(argv[2])
        if mcp_2:
            server.run("streamable-http", host="127.0.0.1", port=port)
        else:
            server.settings.host, server.settings.port = "127.0.0.1", port
            server.run("streamable-http")
    else:
        server.run()


if __name__ == "__main__":
    main(sys.argv)
