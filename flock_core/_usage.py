"""Model usage: tokens, calls and cost, summed over one or more model calls."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["NO_USAGE", "Usage"]

_NEGLIGIBLE_COST = 1e-12
"""Dollars below which two sums of the same costs differ only by float rounding."""


@dataclass(frozen=True, slots=True)
class Usage:
    """Model usage of one or more calls; `cost` is in US dollars (0.0 where no price is known).

    >>> Usage(10, 5, 1) + Usage(1, 1, 1, cost=0.5)
    Usage(input_tokens=11, output_tokens=6, calls=2, cost=0.5)
    """

    input_tokens: int = 0
    output_tokens: int = 0
    calls: int = 0
    cost: float = 0.0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.calls + other.calls,
            self.cost + other.cost,
        )

    def beyond(self, other: Usage) -> Usage:
        """What `self` counts beyond `other`, field by field, never below zero.

        >>> Usage(10, 5, 2, cost=1.0).beyond(Usage(4, 5, 3))
        Usage(input_tokens=6, output_tokens=0, calls=0, cost=1.0)
        """
        return Usage(
            max(self.input_tokens - other.input_tokens, 0),
            max(self.output_tokens - other.output_tokens, 0),
            max(self.calls - other.calls, 0),
            cost if (cost := self.cost - other.cost) > _NEGLIGIBLE_COST else 0.0,
        )


NO_USAGE = Usage()
"""No usage at all, shared (a `Usage` is immutable): what an activation without model calls adds up to."""
