"""A DSPy callback that watches one program run: how many LM calls it made and what was asked last.

The offline model reads `CallRecorder.current()` to learn which signature the adapter just formatted, so
that it can answer in that adapter's format with values for exactly those output fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import dspy
from dspy.utils.callback import BaseCallback

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["CallRecorder", "FormattedCall"]


@dataclass(frozen=True, slots=True)
class FormattedCall:
    """The adapter and signature of the prompt most recently formatted in this run."""

    adapter: dspy.Adapter
    signature: type[dspy.Signature]


class CallRecorder(BaseCallback):
    """Counts LM calls and remembers the last formatted signature of one `run_program` call."""

    def __init__(self) -> None:
        self.calls = 0
        self.last: FormattedCall | None = None

    @classmethod
    def current(cls) -> CallRecorder | None:
        """The recorder of the program running in this task, if any."""
        settings: Any = dspy.settings
        callbacks: list[object] = settings.callbacks
        return next((c for c in reversed(callbacks) if isinstance(c, CallRecorder)), None)

    def on_lm_start(self, call_id: str, instance: Any, inputs: dict[str, Any]) -> None:
        """Count one LM call (DSPy retries inside one call are not counted again)."""
        self.calls += 1

    def on_adapter_format_start(self, call_id: str, instance: Any, inputs: Mapping[str, Any]) -> None:
        """Remember the adapter and the signature it is formatting.

        DSPy wraps `format` once per adapter class in the hierarchy; the outer wrappers see only
        `args`/`kwargs`, the innermost sees `signature`, so only calls that name it are recorded.
        """
        signature = inputs.get("signature")
        if isinstance(instance, dspy.Adapter) and isinstance(signature, type):
            self.last = FormattedCall(instance, cast(type[dspy.Signature], signature))
