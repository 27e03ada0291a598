"""DSPy callbacks that watch one program run: how many LM calls it made and what was asked last.

The offline model reads `CallRecorder.current()` to learn which signature the adapter just formatted, so
that it can answer in that adapter's format with values for exactly those output fields.

Where the callbacks sit matters for speed. While any callback is active in `dspy.settings`, DSPy wraps
every module, adapter and LM method call in its callback machinery (a fresh uuid, argument binding, a
handler lookup), several times per model call. A run that needs only the LM's events (to count calls
and open `chat` spans) therefore leaves `dspy.settings.callbacks` alone: every LM an engine creates
carries one `LMRelay`, which hands the LM's events to the watchers of the run in the current task
(`watching`). Runs that need other events (the offline model reads `Adapter.format`, tool loops open
`execute_tool` spans) install their watchers in `dspy.settings` instead.
"""

from __future__ import annotations

from collections.abc import Generator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import dspy
from dspy.utils.callback import BaseCallback

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["CallRecorder", "FormattedCall", "LMRelay", "watching"]

_watchers: ContextVar[tuple[BaseCallback, ...]] = ContextVar("flock_lm_watchers", default=())


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


class LMRelay(BaseCallback):
    """An LM's own callback: passes its call events to the watchers of the run in the current task."""

    def on_lm_start(self, call_id: str, instance: Any, inputs: dict[str, Any]) -> None:
        """Hand the start of an LM call to the run's watchers."""
        for watcher in _watchers.get():
            watcher.on_lm_start(call_id, instance, inputs)

    def on_lm_end(self, call_id: str, outputs: Any, exception: BaseException | None = None) -> None:
        """Hand the end of an LM call to the run's watchers."""
        for watcher in _watchers.get():
            watcher.on_lm_end(call_id, outputs, exception)


@contextmanager
def watching(*watchers: BaseCallback) -> Generator[None]:
    """Let `LMRelay`s hand the LM events of this task (and the tasks it starts) to `watchers`.

    >>> recorder = CallRecorder()
    >>> with watching(recorder):
    ...     LMRelay().on_lm_start("call-1", None, {})
    >>> recorder.calls
    1
    """
    token = _watchers.set(watchers)
    try:
        yield
    finally:
        _watchers.reset(token)
