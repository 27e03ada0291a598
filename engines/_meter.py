"""A hard limit on model calls and tokens, checked by `DSPyEngine` before every program call it makes.

A `CallMeter` is installed for a block of code with `metering(meter)` (a context variable, so it
reaches every activation the block's `run_until_idle` starts). Before each DSPy program call the engine
*acquires* the most model requests that call can make (one, or a tool loop's steps, times one plus
`num_retries`); the meter refuses when that could take the spending past the limit, and the engine
raises `EngineError` instead of calling. After the call the engine *settles*: the reservation is
released and what the call really cost is added.

With a `journal` file, every acquisition and settlement is appended to it (and flushed) before the call
starts, so a process killed mid-call leaves a record: `CallMeter.spent_in(journal)` counts a call that
was acquired but never settled as having cost its whole reservation. A resumed optimization starts from
that figure, so calls made before a SIGKILL are never forgotten.

Tokens are bounded from what calls have cost so far: a call starts only if, after it and every call in
flight each cost as many tokens as the costliest call so far, the spending stays within `max_tokens`
(a prompt's size is known only once DSPy formats it).
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Generator
from contextvars import ContextVar
from pathlib import Path
from typing import TextIO

from flock_core import Usage

__all__ = ["CallMeter", "current_meter", "metering"]

_CURRENT: ContextVar[CallMeter | None] = ContextVar("flock_call_meter", default=None)


class CallMeter:
    """Counts model calls and tokens against limits; see the module docstring.

    >>> meter = CallMeter(max_calls=2)
    >>> meter.acquire(1), meter.acquire(1), meter.acquire(1)
    (True, True, False)
    >>> meter.settle(1, Usage(10, 5, 1)); meter.spent
    Usage(input_tokens=10, output_tokens=5, calls=1)
    """

    def __init__(
        self,
        *,
        max_calls: int | None = None,
        max_tokens: int | None = None,
        spent: Usage | None = None,
        journal: Path | None = None,
    ) -> None:
        self.max_calls = max_calls
        self.max_tokens = max_tokens
        self.spent = spent or Usage()
        self.refused = 0
        self._reserved = 0
        self._in_flight = 0
        self._costliest = 0
        self._lock = threading.Lock()
        self._journal: TextIO | None = journal.open("a", encoding="utf-8") if journal is not None else None

    def acquire(self, calls: int) -> bool:
        """Reserve up to `calls` model requests; False (and nothing reserved) when the limits could be passed."""
        with self._lock:
            if self.max_calls is not None and self.spent.calls + self._reserved + calls > self.max_calls:
                self.refused += 1
                return False
            if self.max_tokens is not None:
                tokens = self.spent.input_tokens + self.spent.output_tokens
                if tokens + (self._in_flight + 1) * max(self._costliest, 1) > self.max_tokens:
                    self.refused += 1
                    return False
            self._reserved += calls
            self._in_flight += 1
            self._write({"reserve": calls})
            return True

    def settle(self, calls: int, usage: Usage) -> None:
        """Release a reservation of `calls` and add what the call cost."""
        with self._lock:
            self._reserved -= calls
            self._in_flight -= 1
            self.spent = self.spent + usage
            per_call = (usage.input_tokens + usage.output_tokens) // max(usage.calls, 1)
            self._costliest = max(self._costliest, per_call)
            self._write({"settle": calls, "usage": [usage.input_tokens, usage.output_tokens, usage.calls]})

    def close(self) -> None:
        """Close the journal file."""
        if self._journal is not None:
            self._journal.close()
            self._journal = None

    def _write(self, entry: dict[str, object]) -> None:
        if self._journal is not None:
            self._journal.write(json.dumps(entry) + "\n")
            self._journal.flush()  # in the OS's hands now: a killed process loses nothing

    @staticmethod
    def spent_in(journal: Path) -> Usage:
        """What the calls recorded in `journal` cost; a call reserved but never settled counts as its reservation."""
        if not journal.exists():
            return Usage()
        spent, open_calls = Usage(), 0
        for line in journal.read_text(encoding="utf-8").splitlines():
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:  # a line cut short by a kill: its call was reserved before, so it counts
                continue
            if "reserve" in entry:
                open_calls += int(entry["reserve"])
            elif "settle" in entry:
                open_calls -= int(entry["settle"])
                spent = spent + Usage(*(int(n) for n in entry["usage"]))
        return spent + Usage(calls=max(open_calls, 0))


def current_meter() -> CallMeter | None:
    """The meter installed by the innermost `metering` block, if any."""
    return _CURRENT.get()


@contextlib.contextmanager
def metering(meter: CallMeter | None) -> Generator[None]:
    """Install `meter` for the model calls made inside the block (and the tasks it starts)."""
    token = _CURRENT.set(meter)
    try:
        yield
    finally:
        _CURRENT.reset(token)
