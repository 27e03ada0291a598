"""MCP tools as Python async functions: a name, a docstring and a signature derived from the input schema."""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from ._signature import Argument, arguments_of, resolve_ref

__all__ = ["McpTool", "ToolFunction", "result_text", "tool_function", "tool_schema"]

ToolFunction = Callable[..., Awaitable[str]]
"""An MCP tool as an async function taking keyword arguments and returning the tool's text."""


@dataclass(frozen=True, slots=True)
class McpTool:
    """One tool offered by an MCP server.

    Attributes:
        server: the name the server was added under.
        name: the tool's name on that server.
        description: what the tool does (from the server).
        input_schema: the JSON schema of its arguments.
    """

    server: str
    name: str
    description: str = ""
    input_schema: Mapping[str, Any] = field(default_factory=dict[str, Any])

    @property
    def function_name(self) -> str:
        """`"{server}__{tool}"`, with characters other than letters, digits, `_` and `-` replaced by `_`."""
        return re.sub(r"[^A-Za-z0-9_-]", "_", f"{self.server}__{self.name}")

    @classmethod
    def from_wire(cls, server: str, data: Mapping[str, Any]) -> McpTool:
        """A tool from a `tools/list` entry (`name`, `description`, `inputSchema`)."""
        schema = data.get("inputSchema")
        return cls(
            server,
            str(data["name"]),
            str(data.get("description") or ""),
            cast(Mapping[str, Any], schema) if isinstance(schema, Mapping) else {},
        )


def result_text(result: Mapping[str, Any]) -> str:
    """The text of a `tools/call` result: its text parts joined by newlines (structured content as JSON).

    >>> result_text({"content": [{"type": "text", "text": "a"}, {"type": "image", "mimeType": "image/png"}]})
    'a\\n[image content]'
    """
    parts: list[str] = []
    for item in cast(list[Mapping[str, Any]], result.get("content") or []):
        kind = item.get("type")
        parts.append(str(item.get("text", "")) if kind == "text" else f"[{kind} content]")
    if not parts and result.get("structuredContent") is not None:
        return json.dumps(result["structuredContent"])
    return "\n".join(parts)


def _docstring(tool: McpTool, arguments: list[Argument]) -> str:
    lines = [tool.description.strip() or f"The {tool.name!r} tool of MCP server {tool.server!r}."]
    described = [a for a in arguments if a.description]
    if described:
        lines += ["", "Args:", *(f"    {a.name}: {a.description}" for a in described)]
    return "\n".join(lines)


def tool_function(tool: McpTool, call: Callable[[dict[str, Any]], Awaitable[str]]) -> ToolFunction:
    """An async function that validates its keyword arguments against the tool's schema and calls `call`.

    Optional arguments left at `None` are not sent, so the server applies its own defaults.
    """
    arguments = arguments_of(tool.input_schema)
    signature = inspect.Signature([a.parameter() for a in arguments], return_annotation=str)
    by_name = {a.name: a for a in arguments}

    async def run_tool(**kwargs: Any) -> str:
        bound = signature.bind(**kwargs)
        sent = {
            by_name[name].wire_name: value
            for name, value in bound.arguments.items()
            if value is not None or by_name[name].default is inspect.Parameter.empty
        }
        return await call(sent)

    run_tool.__name__ = run_tool.__qualname__ = tool.function_name
    run_tool.__doc__ = _docstring(tool, arguments)
    run_tool.__annotations__ = {**{a.name: a.annotation for a in arguments}, "return": str}
    setattr(run_tool, "__signature__", signature)  # noqa: B010 - inspect.signature() reads it
    setattr(run_tool, "__mcp_tool__", tool)  # noqa: B010 - the tool it calls
    setattr(run_tool, "__tool_schema__", tool_schema(tool, arguments))  # noqa: B010 - read by engines
    return run_tool


def tool_schema(tool: McpTool, arguments: list[Argument]) -> dict[str, Any]:
    """The JSON schema of the function's keyword arguments: the server's, with Python argument names.

    Every limit of the server's schema (`minimum`, `maxLength`, `enum`, ...) is kept, so a model is told
    them and an engine can check arguments before the call.
    """
    properties = cast(Mapping[str, Any], tool.input_schema.get("properties") or {})
    required = set(cast(list[str], tool.input_schema.get("required") or []))
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {a.name: _resolved(properties.get(a.wire_name), tool.input_schema) for a in arguments},
        "required": [a.name for a in arguments if a.wire_name in required],
    }
    if tool.input_schema.get("additionalProperties") is False:
        schema["additionalProperties"] = False
    return schema


def _resolved(schema: object, root: Mapping[str, Any]) -> dict[str, Any]:
    """One argument's schema with a top-level local `$ref` replaced by what it points to."""
    if not isinstance(schema, Mapping):
        return {}
    resolved = dict(resolve_ref(cast(Mapping[str, Any], schema), root))
    return {**resolved, **{k: v for k, v in cast(Mapping[str, Any], schema).items() if k != "$ref"}}
