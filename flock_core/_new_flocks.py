"""Process-wide hooks on every new `Flock`: what `flock run` attaches to the Flocks a script creates."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ._budget import Budget

if TYPE_CHECKING:
    from ._flock import Flock

__all__ = ["announce", "cap_every_new_flock", "capped", "on_every_new_flock"]

_on_create: list[Callable[[Flock], None]] = []
_caps: list[Budget] = []


def on_every_new_flock(callback: Callable[[Flock], None]) -> Callable[[], None]:
    """Call `callback` with every `Flock` created from now on, at the end of its `__init__`; returns the remover.

    Internal to `flock_core` (not re-exported): `flock run` attaches its progress view with it.
    """
    _on_create.append(callback)
    return lambda: _on_create.remove(callback)


def announce(flock: Flock) -> None:
    """Call every `on_every_new_flock` callback with `flock` (the end of `Flock.__init__`)."""
    for callback in tuple(_on_create):
        callback(flock)


def cap_every_new_flock(budget: Budget) -> Callable[[], None]:
    """Give every `Flock` created from now on at most `budget`; returns the remover.

    A Flock created with a budget of its own gets the lower limit of each dimension. Internal to
    `flock_core` (not re-exported): `flock run --max-calls ...` caps the Flocks of a script with it.
    """
    _caps.append(budget)
    return lambda: _caps.remove(budget)


def capped(budget: Budget | None) -> Budget | None:
    """`budget` with every cap of `cap_every_new_flock` applied (the lowest limit of each dimension wins).

    >>> remove = cap_every_new_flock(Budget(max_calls=5, max_cost=1.0))
    >>> capped(Budget(max_calls=10, max_tokens=100))
    Budget(max_calls=5, max_tokens=100, max_cost=1.0)
    >>> remove()
    """
    if not _caps or not isinstance(budget, Budget | None):  # a wrong type is refused by the orchestrator
        return budget
    limits: dict[str, float | int] = {} if budget is None else budget.limits()
    for cap in _caps:
        for name, limit in cap.limits().items():
            limits[name] = min(limit, limits.get(name, limit))
    return Budget.from_limits(limits)
