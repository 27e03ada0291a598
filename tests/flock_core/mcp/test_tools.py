"""MCP tools as Python functions: name, docstring, signature, argument mapping, result text."""

from __future__ import annotations

import inspect
from typing import Any, Literal, get_type_hints

import pytest

from flock_core.mcp import McpTool
from flock_core.mcp._tools import result_text, tool_function

pytestmark = pytest.mark.anyio

SEARCH = McpTool(
    "web-tools",
    "search.v2",
    "Search the index.",
    {
        "type": "object",
        "properties": {
            "query": {"type": "string", "description": "Words to find."},
            "from": {"type": "string"},
            "mode": {"enum": ["fast", "deep"], "default": "fast"},
        },
        "required": ["query"],
    },
)


async def test_tool_function_shape_and_call() -> None:
    sent: list[dict[str, Any]] = []

    async def call(arguments: dict[str, Any]) -> str:
        sent.append(arguments)
        return "found"

    function = tool_function(SEARCH, call)
    assert function.__name__ == "web-tools__search_v2"
    assert function.__doc__ == "Search the index.\n\nArgs:\n    query: Words to find."
    assert str(inspect.signature(function)) == (
        "(*, query: str, from_: str | None = None, mode: Literal['fast', 'deep'] = 'fast') -> str"
    )
    assert get_type_hints(function) == {
        "query": str,
        "from_": str | None,
        "mode": Literal["fast", "deep"],
        "return": str,
    }
    assert inspect.iscoroutinefunction(function)
    assert await function(query="q", from_="2020") == "found"
    assert await function(query="q", from_=None, mode="deep") == "found"
    assert sent == [{"query": "q", "from": "2020"}, {"query": "q", "mode": "deep"}]
    with pytest.raises(TypeError, match="query"):
        await function(mode="deep")
    with pytest.raises(TypeError, match="unexpected"):
        await function(query="q", unexpected=1)


def test_a_tool_without_description_gets_one() -> None:
    async def call(arguments: dict[str, Any]) -> str:
        return ""

    assert tool_function(McpTool("s", "t"), call).__doc__ == "The 't' tool of MCP server 's'."


def test_dspy_reads_the_generated_function() -> None:
    import dspy

    async def call(arguments: dict[str, Any]) -> str:
        return ""

    tool = dspy.Tool(tool_function(SEARCH, call))
    assert (tool.name, tool.desc) == (
        "web-tools__search_v2",
        SEARCH.description + "\n\nArgs:\n    query: Words to find.",
    )
    assert tool.args == {
        "query": {"type": "string"},
        "from_": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None},
        "mode": {"enum": ["fast", "deep"], "type": "string", "default": "fast"},
    }


def test_result_text() -> None:
    assert result_text({"content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}) == "a\nb"
    assert result_text({"content": [], "structuredContent": {"result": 3}}) == '{"result": 3}'
    assert result_text({}) == ""


def test_from_wire() -> None:
    tool = McpTool.from_wire("s", {"name": "t", "inputSchema": {"type": "object"}})
    assert tool == McpTool("s", "t", "", {"type": "object"})
    assert McpTool.from_wire("s", {"name": "t", "description": None}).input_schema == {}
