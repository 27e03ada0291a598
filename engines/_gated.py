"""Budgets at the model call: every LM an engine creates asks the activation's `CallGate` before each call.

`DSPyEngine` installs the gate of the evaluation it runs (`EvaluationRequest.gate`) for the program's
task with `gated(gate)`. A `GatedLM` then calls `gate.before_call(model)` before each of its calls, so a
tool loop, ReAct, a two-step adapter's extraction call or a repair is refused as soon as a budget is
spent (`BudgetExceeded`), with no request sent, and `gate.after_call(usage)` after each call, with the
tokens DSPy's usage tracker saw for it and their cost from LiteLLM's bundled price map.
"""

from __future__ import annotations

from collections.abc import Generator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import dspy

from flock_core import CallGate, Usage
from flock_core.exceptions import ConfigurationError

from ._prices import price_of

__all__ = ["GatedLM", "gated"]

_gate: ContextVar[CallGate | None] = ContextVar("flock_call_gate", default=None)


@contextmanager
def gated(gate: CallGate | None) -> Generator[None]:
    """Let the `GatedLM`s called in this task (and the tasks it starts) spend against `gate`."""
    token = _gate.set(gate)
    try:
        yield
    finally:
        _gate.reset(token)


def _tokens(model: str) -> tuple[int, int]:
    """The input and output tokens DSPy's usage tracker has counted for `model` in this run so far."""
    settings: Any = dspy.settings
    tracker: Any = settings.usage_tracker
    if tracker is None:
        return 0, 0
    totals: dict[str, dict[str, Any]] = tracker.get_total_tokens()
    usage = totals.get(model) or {}
    return int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)


class GatedLM(dspy.LM):
    """A `dspy.LM` whose every call is admitted by the budgets of the evaluation running it (see module)."""

    def __call__(self, prompt: Any = None, *, messages: Any = None, **kwargs: Any) -> Any:
        """A model call, refused with `BudgetExceeded` (and not made) when a budget is spent."""
        gate, before = self._admit()
        try:
            parent: Any = super()  # dspy.LM's methods are untyped
            return parent.__call__(prompt, messages=messages, **kwargs)
        finally:
            self._settle(gate, before)

    async def acall(self, prompt: Any = None, *, messages: Any = None, **kwargs: Any) -> Any:
        """A model call, refused with `BudgetExceeded` (and not made) when a budget is spent."""
        gate, before = self._admit()
        try:
            parent: Any = super()  # dspy.LM's methods are untyped
            return await parent.acall(prompt, messages=messages, **kwargs)
        finally:
            self._settle(gate, before)

    @property
    def model_id(self) -> str:
        """The LiteLLM model id this LM calls."""
        return str(self.model)  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType] - untyped in dspy

    def _admit(self) -> tuple[CallGate | None, tuple[int, int]]:
        gate = _gate.get()
        if gate is None:
            return None, (0, 0)
        if gate.limits_cost and price_of(self.model_id) is None:
            raise ConfigurationError(
                f"agent {gate.agent!r}: model {self.model_id!r} has no price in LiteLLM's bundled price map, so a "
                "budget with max_cost cannot be enforced for it; the call was not made (drop max_cost, or use "
                "a model the map prices)",
                setting="max_cost",
            )
        gate.before_call(self.model_id)
        return gate, _tokens(self.model_id)

    def _settle(self, gate: CallGate | None, before: tuple[int, int]) -> None:
        if gate is None:
            return
        after = _tokens(self.model_id)
        input_tokens, output_tokens = after[0] - before[0], after[1] - before[1]
        price = price_of(self.model_id)
        usage = Usage(input_tokens, output_tokens, 1)
        gate.after_call(Usage(input_tokens, output_tokens, 1, price.cost(usage) if price is not None else 0.0))
