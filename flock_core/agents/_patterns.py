"""Declarations of coordination patterns: joins, batches and schedules (frozen, validated on creation)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any, Literal

from ..exceptions import UserError

__all__ = ["BatchScope", "BatchSpec", "JoinSpec", "ScheduleSpec"]

BatchScope = Literal["board", "correlation"]


@dataclass(frozen=True, slots=True)
class JoinSpec:
    """Correlate the subscribed types by a key computed from each payload, within a window.

    Args:
        by: `payload -> key`; artifacts with equal keys form one group (one of each subscribed type).
        within: a time window from the first artifact of a group, or a count window: the group must
            complete before `within` further artifacts arrive for the subscription. A group that does not
            complete in its window expires and is reported (`Flock.expired_joins`), never silently dropped.

    >>> JoinSpec(by=lambda p: p.order_id, within=timedelta(minutes=5)).window_kind
    'time'
    """

    by: Callable[[Any], Any]
    within: timedelta | int

    def __post_init__(self) -> None:
        if not callable(self.by):
            raise UserError("JoinSpec(by=...) must be a function of the payload")
        if isinstance(self.within, int) and self.within < 1:
            raise UserError(f"JoinSpec(within=...) count window must be >= 1, got {self.within}")
        if isinstance(self.within, timedelta) and self.within <= timedelta(0):
            raise UserError(f"JoinSpec(within=...) time window must be positive, got {self.within}")

    @property
    def window_kind(self) -> Literal["time", "count"]:
        """Whether the window counts time or artifacts."""
        return "time" if isinstance(self.within, timedelta) else "count"


@dataclass(frozen=True, slots=True)
class BatchSpec:
    """Hand the engine several groups at once: flush at `size` groups or `timeout` after the first.

    Args:
        size: flush when this many groups (single artifacts, gate sets or join groups) are waiting.
        timeout: flush a partial batch this long after its first group arrived.
        flush_on_idle: flush a partial batch when the run goes idle (default); with `False` it stays
            pending and is reported by `get_correlation_status` until size or timeout flushes it.
        scope: `"board"` batches across workflows; `"correlation"` batches within one workflow.

    >>> BatchSpec(size=10).size
    10
    """

    size: int
    timeout: timedelta | None = None
    flush_on_idle: bool = True
    scope: BatchScope = "board"

    def __post_init__(self) -> None:
        if self.size < 1:
            raise UserError(f"BatchSpec(size=...) must be >= 1, got {self.size}")
        if self.timeout is not None and self.timeout <= timedelta(0):
            raise UserError(f"BatchSpec(timeout=...) must be positive, got {self.timeout}")


@dataclass(frozen=True, slots=True)
class ScheduleSpec:
    """When a timer agent fires: `every` interval, daily/once `at`, or a 5-field `cron` expression.

    Args:
        every: fire at this interval (first tick after `after`, or after one interval).
        at: a `time` fires daily at that UTC time; a `datetime` fires once.
        cron: `"minute hour day-of-month month day-of-week"`, UTC.
        after: delay before the first tick.
        max_repeats: stop after this many ticks. Bounded timers keep `run_until_idle` waiting for their
            ticks; unbounded ones only fire while the loop runs (see docs/patterns.md).
    """

    every: timedelta | None = None
    at: time | datetime | None = None
    cron: str | None = None
    after: timedelta | None = None
    max_repeats: int | None = None

    def __post_init__(self) -> None:
        given = [name for name in ("every", "at", "cron") if getattr(self, name) is not None]
        if len(given) != 1:
            raise UserError(f"schedule() needs exactly one of every=, at=, cron=; got {given or 'none'}")
        if self.every is not None and self.every <= timedelta(0):
            raise UserError(f"schedule(every=...) must be positive, got {self.every}")
        if self.max_repeats is not None and self.max_repeats < 1:
            raise UserError(f"schedule(max_repeats=...) must be >= 1, got {self.max_repeats}")

    @property
    def bounded(self) -> bool:
        """Whether the timer stops by itself (a one-off `at=datetime`, or `max_repeats`)."""
        return self.max_repeats is not None or isinstance(self.at, datetime)
