"""A hard limit on model calls, tokens and cost, checked by `DSPyEngine` before every program call it makes.

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

Cost (`max_cost`, US dollars) is priced per call from the model's `Price` (`engines._prices`: LiteLLM's
bundled map, or `prices` given). A call starts only if, after it and every call in flight each cost as
much as the costliest call so far, the spending stays within `max_cost`; before any call was priced, a
call starts only alone. A model without a known price is refused (fail closed): a cost it cannot know
could pass the limit. The journal records each call's cost; after a kill, a call reserved but never
settled counts as the costliest call recorded.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Generator, Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import TextIO

from flock_core import Usage

from ._prices import Price, price_of

__all__ = ["CallMeter", "current_meter", "metering"]

_CURRENT: ContextVar[CallMeter | None] = ContextVar("flock_call_meter", default=None)


class CallMeter:
    """Counts model calls and tokens against limits; see the module docstring.

    >>> meter = CallMeter(max_calls=2)
    >>> meter.acquire(1), meter.acquire(1), meter.acquire(1)
    (True, True, False)
    >>> meter.settle(1, Usage(10, 5, 1)); meter.spent
    Usage(input_tokens=10, output_tokens=5, calls=1, cost=0.0)
    >>> priced = CallMeter(max_cost=0.01, prices={"m": Price(1e-04, 0.0)})
    >>> priced.acquire(1, model="m"), priced.acquire(1, model="m")  # the first call starts alone
    (True, False)
    >>> priced.settle(1, Usage(40, 0, 1), model="m"); priced.spent_cost
    0.004
    >>> priced.acquire(1, model="m"), priced.acquire(1, model="m"), priced.acquire(1, model="m")
    (True, False, False)
    """

    def __init__(
        self,
        *,
        max_calls: int | None = None,
        max_tokens: int | None = None,
        max_cost: float | None = None,
        prices: Mapping[str, Price] | None = None,
        spent: Usage | None = None,
        spent_cost: float = 0.0,
        journal: Path | None = None,
    ) -> None:
        self.max_calls = max_calls
        self.max_tokens = max_tokens
        self.max_cost = max_cost
        self.prices: Mapping[str, Price] = dict(prices or {})
        self.spent = spent or Usage()
        self.spent_cost = spent_cost
        self.refused = 0
        self.unpriced: set[str] = set()
        self._reserved = 0
        self._in_flight = 0
        self._costliest = 0
        self._costliest_cost = 0.0
        self._settled = 0
        self._lock = threading.Lock()
        self._journal: TextIO | None = journal.open("a", encoding="utf-8") if journal is not None else None

    def acquire(self, calls: int, *, model: str | None = None) -> bool:
        """Reserve up to `calls` model requests to `model`; False (and nothing reserved) when a limit could be
        passed, or when there is a cost limit and `model` has no known price (it is then in `unpriced`)."""
        with self._lock:
            if not self._admits(calls, model):
                self.refused += 1
                return False
            self._reserved += calls
            self._in_flight += 1
            self._write({"reserve": calls})
            return True

    def _admits(self, calls: int, model: str | None) -> bool:
        if self.max_calls is not None and self.spent.calls + self._reserved + calls > self.max_calls:
            return False
        if self.max_tokens is not None:
            tokens = self.spent.input_tokens + self.spent.output_tokens
            if tokens + (self._in_flight + 1) * max(self._costliest, 1) > self.max_tokens:
                return False
        if self.max_cost is not None:
            if model is None or price_of(model, self.prices) is None:
                self.unpriced.add(model or "an unnamed model")
                return False
            if not self._settled and self._in_flight:
                return False  # before a call was priced, calls start one at a time
            if self.spent_cost + (self._in_flight + 1) * self._costliest_cost > self.max_cost:
                return False
        return True

    def settle(self, calls: int, usage: Usage, *, model: str | None = None) -> None:
        """Release a reservation of `calls` and add what the call cost (priced for `model`)."""
        price = price_of(model, self.prices) if model is not None else None
        cost = price.cost(usage) if price is not None else 0.0
        with self._lock:
            self._reserved -= calls
            self._in_flight -= 1
            self.spent = self.spent + usage
            self.spent_cost = round(self.spent_cost + cost, 9)
            per_call = (usage.input_tokens + usage.output_tokens) // max(usage.calls, 1)
            self._costliest = max(self._costliest, per_call)
            self._costliest_cost = max(self._costliest_cost, cost)
            self._settled += 1
            usage_row = [usage.input_tokens, usage.output_tokens, usage.calls]
            self._write({"settle": calls, "usage": usage_row, "cost": cost})

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
        return _read_journal(journal)[0]

    @staticmethod
    def cost_in(journal: Path) -> float:
        """The cost of the calls recorded in `journal`, in US dollars; a call reserved but never settled counts as
        the costliest call recorded."""
        return _read_journal(journal)[1]


def _read_journal(journal: Path) -> tuple[Usage, float]:
    if not journal.exists():
        return Usage(), 0.0
    spent, cost, costliest, open_calls, open_reservations = Usage(), 0.0, 0.0, 0, 0
    for line in journal.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:  # a line cut short by a kill: its call was reserved before, so it counts
            continue
        if "reserve" in entry:
            open_calls += int(entry["reserve"])
            open_reservations += 1
        elif "settle" in entry:
            open_calls -= int(entry["settle"])
            open_reservations -= 1
            spent = spent + Usage(*(int(n) for n in entry["usage"]))
            call_cost = float(entry.get("cost", 0.0))
            cost, costliest = cost + call_cost, max(costliest, call_cost)
    unsettled = max(open_reservations, 0) * costliest
    return spent + Usage(calls=max(open_calls, 0)), round(cost + unsettled, 9)


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
