"""The MCP client's error lives in the one exceptions module; re-exported here for the subpackage."""

from __future__ import annotations

from ..exceptions import McpError

__all__ = ["McpError"]
