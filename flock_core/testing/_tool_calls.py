"""Tool-call replies of the fake OpenAI server: the assistant asks to call functions instead of answering."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ToolCall", "ToolCallReply"]


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One function the fake model asks to call.

    Attributes:
        name: the function (tool) name.
        arguments: its arguments, sent JSON-encoded as OpenAI does.
        id: the call id (default: `call_{call_index}_{position}`).
    """

    name: str
    arguments: Mapping[str, Any] = field(default_factory=dict[str, Any])
    id: str | None = None


@dataclass(frozen=True, slots=True)
class ToolCallReply:
    """A reply made of tool calls (`finish_reason: "tool_calls"`, no content), for a script or a responder.

    >>> ToolCallReply.of(ToolCall("add", {"a": 1, "b": 2})).wire(3)[0]["function"]
    {'name': 'add', 'arguments': '{"a": 1, "b": 2}'}
    """

    calls: tuple[ToolCall, ...]

    @classmethod
    def of(cls, *calls: ToolCall) -> ToolCallReply:
        """A reply asking for `calls`, in order."""
        return cls(tuple(calls))

    def wire(self, call_index: int) -> list[dict[str, Any]]:
        """The `tool_calls` of the assistant message, in the OpenAI format."""
        return [
            {
                "id": call.id or f"call_{call_index}_{position}",
                "type": "function",
                "function": {"name": call.name, "arguments": json.dumps(dict(call.arguments))},
            }
            for position, call in enumerate(self.calls)
        ]

    def text_size(self) -> int:
        """Characters of the calls' names and arguments (the basis of the reply's token estimate)."""
        return sum(len(call.name) + len(json.dumps(dict(call.arguments))) for call in self.calls)
