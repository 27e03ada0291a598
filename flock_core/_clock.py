"""Clocks: where the runtime reads the time and waits for timers, so tests can control time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol

import anyio

__all__ = ["Clock", "SystemClock", "VirtualClock"]


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


class Clock(Protocol):
    """A source of time that the runtime can also wait on."""

    def now(self) -> datetime:
        """The current time (UTC, timezone-aware)."""
        ...

    async def sleep_until(self, deadline: datetime) -> None:
        """Return once `now() >= deadline`."""
        ...


class SystemClock:
    """The wall clock."""

    def now(self) -> datetime:
        """The current UTC time."""
        return datetime.now(UTC)  # `utcnow()`, one call fewer: every step reads the clock

    async def sleep_until(self, deadline: datetime) -> None:
        """Sleep until `deadline` on the wall clock."""
        delay = (deadline - utcnow()).total_seconds()
        if delay > 0:
            await anyio.sleep(delay)


class VirtualClock:
    """A clock that only moves when told to, or jumps to the next deadline when the runtime waits.

    The runtime waits on the clock only when nothing else can run, so jumping is safe: tests of
    delays and timers run instantly and deterministically.

    >>> from datetime import UTC
    >>> clock = VirtualClock(datetime(2026, 1, 1, tzinfo=UTC))
    >>> clock.advance(timedelta(minutes=5)).isoformat()
    '2026-01-01T00:05:00+00:00'
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or utcnow()

    def now(self) -> datetime:
        """The virtual time."""
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        """Move the clock forward by `delta` and return the new time; a virtual clock never goes back."""
        if delta < timedelta(0):
            raise ValueError(f"VirtualClock.advance() needs a non-negative delta, got {delta}")
        self._now += delta
        return self._now

    async def sleep_until(self, deadline: datetime) -> None:
        """Jump straight to `deadline` (never backwards)."""
        self._now = max(self._now, deadline)
        await anyio.lowlevel.checkpoint()
