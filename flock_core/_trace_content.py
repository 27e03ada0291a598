"""Opt-in content capture: artifacts' payloads as span attributes, only where visibility allows everyone.

Off by default: spans carry ids, types, counts and token usage, never payloads. A `Flock(trace_content=True)`,
or the standard GenAI switch `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true`, records the inputs and
outputs of publishes, activations and workflows as `input.value` / `output.value` (JSON; the attributes that
Phoenix and other OpenInference-aware dashboards show as a span's input and output).

A trace store is one more read path, and whoever can read traces is not an identity the blackboard knows:
only payloads with public visibility are recorded; any other artifact appears with its type, id and the
kind of visibility that kept its payload out.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from .blackboard._artifacts import Artifact

__all__ = ["CONTENT_ENV", "INPUT_VALUE", "MIME_JSON", "OUTPUT_VALUE", "content_enabled", "content_json"]

CONTENT_ENV: Final = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
INPUT_VALUE: Final = "input.value"
OUTPUT_VALUE: Final = "output.value"
MIME_JSON: Final = "application/json"
_TRUE: Final = frozenset({"1", "true", "yes", "on"})


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
