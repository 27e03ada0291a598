"""The MCP client side: connect to Model Context Protocol servers and use their tools as Python callables.

Needs the `mcp` extra (`pip install "flockboard[mcp]"`). See docs/serving.md.

May import: the leaf modules of `flock_core` (`exceptions`). Agents use it through `Flock.add_mcp`.
"""

from ._errors import McpError
from ._parameters import StdioServerParameters, StreamableHttpServerParameters, server_spec
from ._spec import McpServerSpec, McpTransport
from ._toolbox import McpToolbox, ServerSelection
from ._tools import McpTool, ToolFunction

__all__ = [
    "McpError",
    "McpServerSpec",
    "McpTool",
    "McpToolbox",
    "McpTransport",
    "ServerSelection",
    "StdioServerParameters",
    "StreamableHttpServerParameters",
    "ToolFunction",
    "server_spec",
]
