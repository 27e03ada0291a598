"""The tool loop: `dspy.ReAct`, made tolerant of a model that names a tool that does not exist.

`dspy.ReAct` types `next_tool_name` as a `Literal` of the tool names, so a wrong name fails parsing and
ends the whole call. Here it is a plain string, and an unknown name resolves to a tool that raises:
its one-line error ("Error: LookupError: unknown tool ...") is the step's observation, as for a tool that
raises or gets invalid arguments (see `_tools`), and the model tries again.
At most `max_iters` steps run (each step is one tool call, `finish` included); then the outputs are
extracted from the trajectory.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import dspy

from ._tools import FlockTool

__all__ = ["ToolLoop"]


class _ToolTable(dict[str, dspy.Tool]):
    """The tools by name; a missing name yields a tool that explains which names exist."""

    def __missing__(self, name: str) -> dspy.Tool:
        known = ", ".join(sorted(self))

        def unknown_tool(**kwargs: Any) -> str:
            raise LookupError(f"unknown tool {name!r}; the available tools are: {known}")

        tool = FlockTool(unknown_tool, name=name, desc="not an available tool", args={})
        tool.has_kwargs = True
        return tool


class ToolLoop(dspy.ReAct):
    """`dspy.ReAct` where an unknown tool name is an observation, not a parse failure."""

    def __init__(self, signature: type[dspy.Signature], tools: list[dspy.Tool], max_iters: int) -> None:
        super().__init__(signature, tools=cast(list[Any], tools), max_iters=max_iters)  # pyright: ignore[reportUnknownMemberType]
        react_signature = cast(type[dspy.Signature], self.react.signature)
        self.react.signature = react_signature.with_updated_fields("next_tool_name", type_=str)
        self.tools = _ToolTable(cast(Mapping[str, dspy.Tool], self.tools))
