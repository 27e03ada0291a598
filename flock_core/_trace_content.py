"""Opt-in content capture: artifacts' payloads as span attributes, only where visibility allows everyone.

Off by default: spans carry ids, types, counts and token usage, never payloads. A `Flock(trace_content=True)`,
or the standard GenAI switch `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true`, records the inputs and
outputs of publishes, activations and workflows as `input.value` / `output.value` (JSON; the attributes that
Phoenix and other OpenInference-aware dashboards show as a span's input and output).

A trace store is one more read path, and whoever can read traces is not an identity the blackboard knows:
only payloads with public visibility are recorded; any other artifact appears with its type, id and the
kind of visibility that kept its payload out. The same rule holds for what is derived from payloads: model
prompts and completions are recorded only for an activation that read nothing but public artifacts, and
the message of an exception raised by any other activation (it may quote what it read) is withheld from
its spans; the exception's type and stack frames are kept.
"""

from __future__ import annotations

import json
import os
import traceback
from collections.abc import Mapping, Sequence
from contextvars import ContextVar, Token
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from .blackboard._artifacts import Artifact

__all__ = [
    "CONTENT_ENV",
    "INPUT_VALUE",
    "MIME_JSON",
    "OUTPUT_VALUE",
    "content_enabled",
    "content_json",
    "error_attributes",
    "error_description",
    "reading",
    "reads_public",
]

CONTENT_ENV: Final = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
INPUT_VALUE: Final = "input.value"
OUTPUT_VALUE: Final = "output.value"
MIME_JSON: Final = "application/json"
_TRUE: Final = frozenset({"1", "true", "yes", "on"})
_WITHHELD: Final = "message withheld: it may quote artifacts that are not public"
_reads_public: ContextVar[bool] = ContextVar("flock_reads_public", default=False)


def content_enabled(explicit: bool | None, environ: Mapping[str, str] | None = None) -> bool:
    """Whether to capture content: the explicit choice, else the standard GenAI environment switch.

    >>> content_enabled(None, {})
    False
    >>> content_enabled(None, {CONTENT_ENV: "true"}), content_enabled(False, {CONTENT_ENV: "true"})
    (True, False)
    """
    if explicit is not None:
        return explicit
    value = (os.environ if environ is None else environ).get(CONTENT_ENV, "")
    return value.strip().lower() in _TRUE


def _entry(artifact: Artifact) -> dict[str, Any]:
    entry: dict[str, Any] = {"type": artifact.type, "id": str(artifact.id)}
    kind = artifact.visibility.kind
    if kind == "public":
        entry["payload"] = artifact.payload
    else:
        entry["redacted"] = f"{kind} visibility"
    return entry


def content_json(artifacts: Sequence[Artifact]) -> str:
    """The artifacts as a JSON list of `{type, id, payload}`; a non-public payload is left out and named why."""
    return json.dumps([_entry(a) for a in artifacts], ensure_ascii=False, default=str)


class reading:  # noqa: N801 - used as a function: `with reading(public):`
    """While an engine runs: whether everything its activation read (inputs and context) is public.

    A class rather than a generator-based context manager: it is entered once per activation.
    """

    __slots__ = ("_public", "_token")

    def __init__(self, public: bool) -> None:
        self._public = public
        self._token: Token[bool] | None = None

    def __enter__(self) -> None:
        self._token = _reads_public.set(self._public)

    def __exit__(self, *exc_info: object) -> None:
        if self._token is not None:
            _reads_public.reset(self._token)


def reads_public() -> bool:
    """Whether the activation running in this task read only public artifacts (`False` outside one)."""
    return _reads_public.get()


def error_description(error: BaseException, disclose: bool) -> str:
    """`Type: message` for a span, or `Type (message withheld: ...)` when the message may not be disclosed.

    >>> error_description(ValueError("the secret"), disclose=False)
    'ValueError (message withheld: it may quote artifacts that are not public)'
    """
    name = type(error).__name__
    return f"{name}: {error}" if disclose else f"{name} ({_WITHHELD})"


def error_attributes(error: BaseException, disclose: bool) -> dict[str, str]:
    """The attributes that replace a withheld exception's message and traceback text (none when disclosed)."""
    if disclose:
        return {}
    frames = "".join(traceback.format_tb(error.__traceback__))
    return {"exception.message": _WITHHELD, "exception.stacktrace": f"{frames}{type(error).__name__} ({_WITHHELD})"}
