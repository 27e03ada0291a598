"""OpenTelemetry spans for model and tool calls: `chat {model}` (CLIENT) and `execute_tool {tool}`.

A DSPy callback opens a span when a call starts and ends it when the call returns, as a child of the
current span (the core's `invoke_agent {agent}`). Token usage comes from DSPy's usage tracker of the run.
Message content is never recorded.
"""

from __future__ import annotations

from typing import Any

import dspy
from dspy.utils.callback import BaseCallback
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from flock_core import active_tracer

__all__ = ["CallSpans"]


def _tokens() -> tuple[int, int]:
    settings: Any = dspy.settings
    tracker: Any = settings.usage_tracker
    if tracker is None:
        return 0, 0
    totals: dict[str, dict[str, Any]] = tracker.get_total_tokens()
    prompt = sum(int(u.get("prompt_tokens") or 0) for u in totals.values())
    completion = sum(int(u.get("completion_tokens") or 0) for u in totals.values())
    return prompt, completion


class CallSpans(BaseCallback):
    """Opens one span per LM call and per tool call of one program run."""

    def __init__(self) -> None:
        self._open: dict[str, tuple[Span, tuple[int, int]]] = {}

    def on_lm_start(self, call_id: str, instance: Any, inputs: dict[str, Any]) -> None:
        """Start `chat {model}` with the request attributes."""
        model = str(getattr(instance, "model", "unknown"))
        provider = model.split("/", 1)[0] if "/" in model else "unknown"
        span = active_tracer().start_span(
            f"chat {model}",
            kind=SpanKind.CLIENT,
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": model,
                "gen_ai.provider.name": provider,
            },
        )
        self._open[call_id] = (span, _tokens())

    def on_lm_end(self, call_id: str, outputs: Any, exception: BaseException | None = None) -> None:
        """End the call's span with its token usage, or its error."""
        self._finish(call_id, exception, usage=True)

    def on_tool_start(self, call_id: str, instance: Any, inputs: dict[str, Any]) -> None:
        """Start `execute_tool {tool}`."""
        name = str(getattr(instance, "name", "tool"))
        span = active_tracer().start_span(
            f"execute_tool {name}",
            kind=SpanKind.INTERNAL,
            attributes={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": name},
        )
        self._open[call_id] = (span, (0, 0))

    def on_tool_end(self, call_id: str, outputs: Any, exception: BaseException | None = None) -> None:
        """End the tool's span."""
        self._finish(call_id, exception, usage=False)

    def _finish(self, call_id: str, exception: BaseException | None, *, usage: bool) -> None:
        opened = self._open.pop(call_id, None)
        if opened is None:
            return
        span, (prompt_before, completion_before) = opened
        if usage:
            prompt, completion = _tokens()
            span.set_attribute("gen_ai.usage.input_tokens", prompt - prompt_before)
            span.set_attribute("gen_ai.usage.output_tokens", completion - completion_before)
        if exception is not None:
            span.set_attribute("error.type", type(exception).__name__)
            span.set_status(Status(StatusCode.ERROR, str(exception)))
        span.end()
