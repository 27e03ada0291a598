"""Budgets: limits on the model calls, tokens, cost and wall time a workflow (or a whole Flock) may spend.

A `Budget` is checked before each model call (see `docs/control.md`): a call is refused when it could
take the calls past `max_calls`, or when tokens, cost or wall time have already reached their limit (a
call's tokens and cost are known only once it returns, so the call that crosses such a limit is the last
one made).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields

from ._usage import Usage
from .exceptions import ConfigurationError

__all__ = ["Budget", "BudgetLimit", "BudgetStatus"]

_INT_LIMITS = ("max_calls", "max_tokens", "max_input_tokens", "max_output_tokens")
_FLOAT_LIMITS = ("max_cost", "max_wall_time")


@dataclass(frozen=True, slots=True, kw_only=True)
class Budget:
    """Limits on model usage; `None` (the default) leaves a dimension unlimited.

    Attributes:
        max_calls: the most model calls (requests to a model; a tool loop makes one per step).
        max_tokens: the most input plus output tokens.
        max_input_tokens: the most input (prompt) tokens.
        max_output_tokens: the most output (completion) tokens.
        max_cost: the most cost in US dollars, priced from LiteLLM's bundled price map.
        max_wall_time: the most seconds from the start (a workflow's first publish with this budget, or
            the Flock's start) to a model call.

    >>> Budget(max_calls=10, max_cost=0.5)
    Budget(max_calls=10, max_cost=0.5)
    >>> Budget(max_calls=-1)
    Traceback (most recent call last):
    ...
    flock_core.exceptions.ConfigurationError: Budget(max_calls=-1): a limit is an int >= 0 or None
    """

    max_calls: int | None = None
    max_tokens: int | None = None
    max_input_tokens: int | None = None
    max_output_tokens: int | None = None
    max_cost: float | None = None
    max_wall_time: float | None = None

    def __post_init__(self) -> None:
        for name in (*_INT_LIMITS, *_FLOAT_LIMITS):
            value: object = getattr(self, name)
            if value is None:
                continue
            whole = isinstance(value, int) and not isinstance(value, bool)
            number = whole or isinstance(value, float)
            if not (whole if name in _INT_LIMITS else number) or not math.isfinite(value) or value < 0:  # pyright: ignore[reportArgumentType, reportOperatorIssue]
                kind = "an int" if name in _INT_LIMITS else "a number"
                raise ConfigurationError(f"Budget({name}={value!r}): a limit is {kind} >= 0 or None", setting=name)

    def __repr__(self) -> str:
        return f"Budget({', '.join(f'{name}={value!r}' for name, value in self.limits().items())})"

    @property
    def limits_cost(self) -> bool:
        """Whether this budget limits cost (then every model call needs a known price)."""
        return self.max_cost is not None

    def refusal(self, spent: Usage, elapsed: float, reserved_calls: int = 0) -> BudgetLimit | None:
        """The limit that forbids one more model call after `spent` (with `reserved_calls` in flight), if any.

        >>> Budget(max_calls=2).refusal(Usage(calls=1), 0.0, reserved_calls=1)
        BudgetLimit(name='max_calls', limit=2, spent=1)
        >>> Budget(max_cost=0.01).refusal(Usage(cost=0.002), 0.0) is None
        True
        """
        for name, limit in self.limits().items():
            used = _spent_on(name, spent, elapsed)
            if (used + reserved_calls + 1 > limit) if name == "max_calls" else used >= limit:
                return BudgetLimit(name, limit, used)
        return None

    def remaining(self, spent: Usage, elapsed: float) -> dict[str, float | int]:
        """What is left of each limited dimension (never below zero)."""
        return {name: max(limit - _spent_on(name, spent, elapsed), 0) for name, limit in self.limits().items()}

    def limits(self) -> dict[str, float | int]:
        """The dimensions this budget limits, with their limits."""
        return {name: value for name, value in asdict(self).items() if value is not None}

    @classmethod
    def from_limits(cls, limits: Mapping[str, float | int]) -> Budget:
        """The budget with these limits (the inverse of `limits`); unknown names raise `ConfigurationError`."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(limits) - known)
        if unknown:
            raise ConfigurationError(f"Budget has no limit {unknown[0]!r}; its limits are {sorted(known)}")
        return cls(**{name: value for name, value in limits.items()})  # pyright: ignore[reportArgumentType]


def _spent_on(name: str, spent: Usage, elapsed: float) -> float | int:
    return {
        "max_calls": spent.calls,
        "max_tokens": spent.input_tokens + spent.output_tokens,
        "max_input_tokens": spent.input_tokens,
        "max_output_tokens": spent.output_tokens,
        "max_cost": spent.cost,
        "max_wall_time": elapsed,
    }[name]


@dataclass(frozen=True, slots=True)
class BudgetLimit:
    """A limit that refused a model call: its name (`"max_calls"`, ...), its value and what was spent on it."""

    name: str
    limit: float | int
    spent: float | int

    def __str__(self) -> str:
        return f"{self.name}={self.limit:g} reached (spent {self.spent:g})"


@dataclass(frozen=True, slots=True)
class BudgetStatus:
    """A budget and what was spent against it: `get_correlation_status(...).budget` / `.flock_budget`.

    Attributes:
        limit: the budget.
        spent: the model usage so far (cost included).
        elapsed: seconds since the budget's start.
        remaining: what is left of each limited dimension, by limit name (`{"max_calls": 3, ...}`).
        exceeded: the limit that refused a model call, once one did.
    """

    limit: Budget
    spent: Usage
    elapsed: float
    remaining: Mapping[str, float | int]
    exceeded: BudgetLimit | None = None
