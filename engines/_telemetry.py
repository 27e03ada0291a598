"""OpenTelemetry spans for model and tool calls: `chat {model}` (CLIENT) and `execute_tool {tool}`.

A DSPy callback opens a span when a call starts and ends it when the call returns, as a child of the
current span (the core's `invoke_agent {agent}`). Token usage comes from DSPy's usage tracker of the run.

Message content is recorded only when the core allows it (`flock_core.captures_messages`: content capture
is switched on and the activation read only public artifacts): the prompt as `gen_ai.input.messages` and the
completions as `gen_ai.output.messages` (GenAI conventions, JSON), and the same messages as OpenInference's
`llm.input_messages.*` / `llm.output_messages.*`, which Phoenix shows on an LLM span.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from typing import Any, cast

import dspy
from dspy.utils.callback import BaseCallback
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from flock_core import active_tracer, captures_messages

__all__ = ["CallSpans", "message_attributes", "note_response", "provider_of", "set_model_attributes"]

_PROVIDERS = {
    "openai": "openai",
    "text-completion-openai": "openai",
    "anthropic": "anthropic",
    "azure": "azure.ai.openai",
    "azure_ai": "azure.ai.inference",
    "bedrock": "aws.bedrock",
    "gemini": "gcp.gemini",
    "vertex_ai": "gcp.vertex_ai",
    "mistral": "mistral_ai",
    "groq": "groq",
    "deepseek": "deepseek",
    "xai": "x_ai",
    "cohere": "cohere",
    "perplexity": "perplexity",
    "watsonx": "ibm.watsonx.ai",
}
_response: ContextVar[tuple[str | None, str | None] | None] = ContextVar("flock_lm_response", default=None)


def provider_of(model: str) -> str:
    """The `gen_ai.provider.name` of a LiteLLM model id: the semantic conventions' name where there is one.

    >>> provider_of("openai/gpt-4.1-mini"), provider_of("gemini/gemini-2.5-pro"), provider_of("ollama_chat/llama3")
    ('openai', 'gcp.gemini', 'ollama_chat')
    >>> provider_of("offline"), provider_of("gpt-4o")
    ('flock.offline', 'unknown')
    """
    if model == "offline":
        return "flock.offline"
    if "/" not in model:
        return "unknown"
    prefix = model.split("/", 1)[0]
    return _PROVIDERS.get(prefix, prefix)


def set_model_attributes(span: Span, model: str) -> None:
    """Name the model and its provider on `span` (an `invoke_agent` span), when it is recorded."""
    if span.is_recording():
        span.set_attribute("gen_ai.request.model", model)
        span.set_attribute("gen_ai.provider.name", provider_of(model))


def _first_id(response: object) -> str | None:
    candidates: list[object] = list(cast(list[object], response)) if isinstance(response, list | tuple) else [response]
    for candidate in candidates:
        found: object = (
            cast(Mapping[str, object], candidate).get("id")
            if isinstance(candidate, Mapping)
            else getattr(candidate, "id", None)
        )
        if isinstance(found, str) and found:
            return found
    return None


def note_response(response: Any, response_model: Any) -> None:
    """Remember the provider's response id and model of the LM call running in this task (for its span)."""
    _response.set((_first_id(response), response_model if isinstance(response_model, str) else None))


def _text(content: object) -> str:
    return content if isinstance(content, str) else json.dumps(content, ensure_ascii=False, default=str)


def _prompt(inputs: Mapping[str, Any]) -> list[tuple[str, str]]:
    """`(role, text)` of each message of an LM call's arguments (a bare `prompt` is one user message)."""
    messages: object = inputs.get("messages")
    if isinstance(messages, list):
        found: list[tuple[str, str]] = []
        for message in cast(list[object], messages):
            if isinstance(message, Mapping):
                entry = cast(Mapping[str, object], message)
                found.append((str(entry.get("role", "user")), _text(entry.get("content", ""))))
        return found
    prompt = inputs.get("prompt")
    return [] if prompt is None else [("user", _text(prompt))]


def _completions(outputs: object) -> list[tuple[str, str]]:
    """`("assistant", text)` of each completion an LM call returned (strings, or dicts with a `text`)."""
    items: list[object] = list(cast(Sequence[object], outputs)) if isinstance(outputs, list | tuple) else [outputs]
    return [("assistant", _text(_completion_text(item))) for item in items]


def _completion_text(item: object) -> object:
    if not isinstance(item, Mapping):
        return item
    entry = cast(Mapping[str, object], item)
    return entry.get("text", entry)


def message_attributes(direction: str, messages: Sequence[tuple[str, str]]) -> dict[str, str]:
    """Span attributes of `messages` (`direction` is `input` or `output`): GenAI JSON plus OpenInference.

    >>> message_attributes("input", [("user", "hi")])  # doctest: +NORMALIZE_WHITESPACE
    {'gen_ai.input.messages': '[{"role": "user", "parts": [{"type": "text", "content": "hi"}]}]',
     'llm.input_messages.0.message.role': 'user', 'llm.input_messages.0.message.content': 'hi'}
    """
    genai = [{"role": role, "parts": [{"type": "text", "content": text}]} for role, text in messages]
    attributes = {f"gen_ai.{direction}.messages": json.dumps(genai, ensure_ascii=False)}
    for index, (role, text) in enumerate(messages):
        attributes[f"llm.{direction}_messages.{index}.message.role"] = role
        attributes[f"llm.{direction}_messages.{index}.message.content"] = text
    return attributes


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
        self._capturing: set[str] = set()

    def on_lm_start(self, call_id: str, instance: Any, inputs: dict[str, Any]) -> None:
        """Start `chat {model}` with the request attributes."""
        model = str(getattr(instance, "model", "unknown"))
        provider = provider_of(model)
        _response.set(None)
        span = active_tracer().start_span(
            f"chat {model}",
            kind=SpanKind.CLIENT,
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": model,
                "gen_ai.provider.name": provider,
            },
        )
        if captures_messages() and span.is_recording():
            self._capturing.add(call_id)
            span.set_attributes(message_attributes("input", _prompt(inputs)))
        self._open[call_id] = (span, _tokens())

    def on_lm_end(self, call_id: str, outputs: Any, exception: BaseException | None = None) -> None:
        """End the call's span with its token usage (and completions, when captured), or its error."""
        opened = self._open.get(call_id)
        if call_id in self._capturing:
            self._capturing.discard(call_id)
            if opened is not None and exception is None and outputs is not None:
                opened[0].set_attributes(message_attributes("output", _completions(outputs)))
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
            response_id, response_model = _response.get() or (None, None)
            if response_id:
                span.set_attribute("gen_ai.response.id", response_id)
            if response_model:
                span.set_attribute("gen_ai.response.model", response_model)
            prompt, completion = _tokens()
            span.set_attribute("gen_ai.usage.input_tokens", prompt - prompt_before)
            span.set_attribute("gen_ai.usage.output_tokens", completion - completion_before)
        if exception is not None:
            span.set_attribute("error.type", type(exception).__name__)
            span.set_status(Status(StatusCode.ERROR, str(exception)))
        span.end()
