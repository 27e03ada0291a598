"""Model usage: tokens and calls, summed over one or more model calls."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Usage"]


@dataclass(frozen=True, slots=True)
class Usage:
    """Model usage of one or more calls.

    >>> Usage(10, 5, 1) + Usage(1, 1, 1)
    Usage(input_tokens=11, output_tokens=6, calls=2)
    """

    input_tokens: int = 0
    output_tokens: int = 0
    calls: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.calls + other.calls,
        )
