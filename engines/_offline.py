"""The offline model: deterministic, schema-valid, visibly synthetic answers with no key and no network.

`OfflineLM` is a real `dspy.LM` whose execution engine answers locally instead of over HTTP, so its
replies travel DSPy's whole path: the adapter formats the prompt, the "model" replies with text in that
adapter's format (`[[ ## field ## ]]` sections for ChatAdapter, a JSON object for JSONAdapter, XML for
XMLAdapter, ...), and the adapter parses that text exactly as it parses a provider's reply.

How it knows what to answer: `run_program` installs a `CallRecorder` callback, which sees every
`Adapter.format(signature, ...)` call. The offline engine reads the signature formatted last, builds a
value for each output field from the field type's JSON schema (`engines._synthetic`), and formats them
with that adapter's own `format_assistant_message_content`. A list field whose description says
"exactly N" or "between A and B" (the wording of the signature builder) gets that many items. In DSPy's
tool loop it always picks `finish` at once: offline runs never call tools with synthetic arguments.

Values are seeded from a hash of the whole prompt, so the same inputs give the same outputs. Token usage
is estimated as one token per four characters. Asked to stream, it streams its reply word by word (a
word and the whitespace after it per chunk), letting other tasks run between chunks.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any, cast

import anyio
import pydantic
from dspy.lm15 import ConfigurationError as LM15ConfigurationError
from dspy.lm15 import Message, Request, Response, StreamDeltaEvent, TextDelta, Usage, response_to_events

from ._gated import GatedLM
from ._recorder import CallRecorder, FormattedCall
from ._settings import OFFLINE_MODEL, SIMULATED_MODEL
from ._simulated import simulated_reply
from ._synthetic import synthesize

__all__ = ["OfflineLM", "offline_reply"]

_EXACTLY = re.compile(r"\bexactly (\d+)\b")
_BETWEEN = re.compile(r"\bbetween (\d+) and (\d+)\b")
_REACT_CHOICES: dict[str, Any] = {"next_tool_name": "finish", "next_tool_args": {}}
_WORD = re.compile(r"\s*\S+\s*")


class OfflineLM(GatedLM):
    """A `dspy.LM` that answers locally: `"offline"` with synthetic values (see the module docstring), or
    `"simulated"` with the simulated model's answers (`engines._simulated`), which follow the prompt's demos
    and rules."""

    def __init__(self, model: str = OFFLINE_MODEL) -> None:
        engine = _OfflineEngine(simulated=model == SIMULATED_MODEL)
        super().__init__(  # pyright: ignore[reportUnknownMemberType] - dspy.LM takes untyped **kwargs
            model, engine=engine, async_engine=_AsyncOfflineEngine(engine), cache=False, num_retries=0
        )


class _OfflineEngine:
    """A DSPy execution engine (`complete(Request) -> Response`) that never leaves the process."""

    supports_function_calling = False
    supports_response_schema = False

    def __init__(self, *, simulated: bool = False) -> None:
        self._simulated = simulated

    def complete(self, request: Request) -> Response:
        if self._simulated:
            return self._respond(request, simulated_reply(_system_text(request), _turns(request)), SIMULATED_MODEL)
        recorder = CallRecorder.current()
        if recorder is None or recorder.last is None:
            raise LM15ConfigurationError(
                "the offline model answers DSPy programs run by engines.DSPyEngine (it reads the signature "
                "being formatted from the engine's CallRecorder callback)"
            )
        return self._respond(request, offline_reply(recorder.last, _prompt_text(request)), OFFLINE_MODEL)

    def _respond(self, request: Request, text: str, model: str) -> Response:
        prompt = _prompt_text(request)
        usage = Usage(input_tokens=_tokens(prompt), output_tokens=_tokens(text))
        digest = hashlib.sha256(prompt.encode()).hexdigest()[:16]
        return Response(
            id=f"{model}-{digest}", model=model, message=Message.assistant(text), finish_reason="stop", usage=usage
        )

    def stream(self, request: Request) -> Iterator[Any]:
        for event in response_to_events(self.complete(request)):
            yield from _word_by_word(event)

    def close(self) -> None:
        """Nothing to release."""


class _AsyncOfflineEngine:
    """The async face of `_OfflineEngine` (answering is pure computation, so no thread is needed)."""

    supports_function_calling = False
    supports_response_schema = False

    def __init__(self, engine: _OfflineEngine) -> None:
        self._engine = engine

    async def complete(self, request: Request) -> Response:
        return self._engine.complete(request)

    async def stream(self, request: Request) -> AsyncIterator[Any]:
        for event in self._engine.stream(request):
            yield event
            await anyio.lowlevel.checkpoint()  # concurrent activations stream side by side

    async def aclose(self) -> None:
        """Nothing to release."""


def _word_by_word(event: Any) -> Iterator[Any]:
    """`event`, with a text delta split into one delta per word (DSPy joins them back into the reply)."""
    delta = getattr(event, "delta", None)
    if not isinstance(delta, TextDelta) or delta.logprobs or not delta.text:
        yield event
        return
    for word in _WORD.findall(delta.text) or [delta.text]:
        yield StreamDeltaEvent(delta=TextDelta(text=word, part_index=delta.part_index))


def offline_reply(call: FormattedCall, prompt: str) -> str:
    """The reply text for the formatted `call`, seeded by `prompt`: what a perfectly obedient model says."""
    seed = int.from_bytes(hashlib.sha256(prompt.encode()).digest()[:8], "big")
    values: dict[str, Any] = {}
    for name, field in call.signature.output_fields.items():
        if name in _REACT_CHOICES:
            values[name] = _REACT_CHOICES[name]
            continue
        extra = cast(dict[str, Any], field.json_schema_extra or {})
        values[name] = synthesize(
            _schema(field.annotation), seed=seed, label=name, count=_count(str(extra.get("desc", "")))
        )
    return call.adapter.format_assistant_message_content(call.signature, values)


def _schema(annotation: Any) -> dict[str, Any]:
    try:
        return pydantic.TypeAdapter(annotation).json_schema()
    except (pydantic.PydanticSchemaGenerationError, pydantic.PydanticInvalidForJsonSchema):
        return {"type": "string"}


def _count(description: str) -> tuple[int, int] | None:
    if match := _EXACTLY.search(description):
        return int(match[1]), int(match[1])
    if match := _BETWEEN.search(description):
        return int(match[1]), int(match[2])
    return None


def _system_text(request: Request) -> str:
    system = request.system
    if system is None:
        return ""
    if isinstance(system, str):
        return system
    return "".join(str(getattr(part, "text", "")) for part in system)


def _turns(request: Request) -> list[tuple[str, str]]:
    return [(str(message.role), message.text or "") for message in request.messages]


def _prompt_text(request: Request) -> str:
    return "\n\n".join([_system_text(request), *(message.text or "" for message in request.messages)])


def _tokens(text: str) -> int:
    return math.ceil(len(text) / 4)
