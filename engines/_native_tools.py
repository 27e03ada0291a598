"""The native tool loop: the provider's own function calling (a `tools` request field, `tool_calls` replies).

Each step is one model call that carries the tools' full JSON schemas; the model answers with tool calls or
with the outputs. Tool calls run (in order), their results go back as `tool` messages of the conversation,
and the next step sees them. After `max_iters` steps with tool calls, one last call without tools asks for
the outputs. DSPy's adapters do the formatting (`use_native_function_calling`); this module owns the loop.
Used when the model supports function calling and the adapter is DSPy's chat adapter; otherwise the
ReAct loop (`_tool_loop`) puts the tools in the prompt as text.
"""

from __future__ import annotations

import copy
from typing import Any

import dspy
from dspy.adapters.types.tool import ToolCallResults

from ._adapters import CachedChatAdapter
from ._tools import FlockTool

__all__ = ["NativeToolLoop", "native_tool_calling"]

_dspy: Any = dspy  # DSPy's settings, context and field factories are untyped

HISTORY, TOOLS, CALLS = "tool_history", "tools", "tool_calls"
"""The loop's own signature fields (reserved names for the signature builder)."""


def native_tool_calling(lm: dspy.BaseLM, adapter: dspy.Adapter) -> bool:
    """Whether `lm` and `adapter` can call tools natively (DSPy's chat adapter, a function-calling model)."""
    chat = type(adapter) is dspy.ChatAdapter or type(adapter) is CachedChatAdapter  # not its subclasses (JSON, XML)
    return chat and bool(getattr(lm, "supports_function_calling", False))


class NativeToolLoop(dspy.Module):
    """Outputs of `signature`, produced by a model that may first call `tools` through native function calling."""

    def __init__(self, signature: type[dspy.Signature], tools: list[FlockTool], max_iters: int) -> None:
        super().__init__()  # pyright: ignore[reportUnknownMemberType]
        self.tools = {str(tool.name): tool for tool in tools}
        self.max_iters = max_iters
        untyped: Any = signature  # DSPy's signature-editing methods are untyped
        with_history: Any = untyped.prepend(HISTORY, _dspy.InputField(), type_=dspy.History)
        acting: Any = with_history.append(TOOLS, _dspy.InputField(), type_=list[dspy.Tool])
        self.act: Any = dspy.Predict(acting.append(CALLS, _dspy.OutputField(), type_=dspy.ToolCalls))
        self.finish: Any = dspy.Predict(with_history)

    async def _run(self, call: Any) -> Any:
        tool = self.tools.get(call.name)
        if tool is None:
            return f"Error: unknown tool {call.name!r}; the tools are {sorted(self.tools)}"
        return await tool.acall(**call.args)

    async def aforward(self, **inputs: Any) -> dspy.Prediction:
        """Run up to `max_iters` steps of tool calls, then return the outputs."""
        adapter: Any = copy.copy(_dspy.settings.adapter or dspy.ChatAdapter())
        adapter.use_native_function_calling = True
        history: list[dict[str, Any]] = []
        tools = list(self.tools.values())
        with _dspy.context(adapter=adapter):
            for step in range(self.max_iters):
                prediction: Any = await self.act.acall(
                    **inputs, **{HISTORY: dspy.History(messages=history), TOOLS: tools}
                )
                calls = prediction.get(CALLS)
                if calls is None or not calls.tool_calls:
                    return prediction
                values = [await self._run(call) for call in calls.tool_calls]
                results = ToolCallResults.from_tool_calls_and_values(calls, values)
                turn = dict(inputs) if step == 0 else {}
                turn[CALLS] = calls.model_copy(update={"tool_call_results": results})
                history.append(turn)
            final: dspy.Prediction = await self.finish.acall(**inputs, **{HISTORY: dspy.History(messages=history)})
        return final
