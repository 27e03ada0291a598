"""Tests of `flock_core._clock`: the system clock and the virtual clock used in tests."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from dirty_equals import IsDatetime

from flock_core import Clock, SystemClock
from flock_core._clock import utcnow
from flock_core.testing import VirtualClock

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_both_clocks_satisfy_the_protocol() -> None:
    clocks: list[Clock] = [SystemClock(), VirtualClock(T0)]
    assert [type(c).__name__ for c in clocks] == ["SystemClock", "VirtualClock"]


def test_system_clock_now_is_aware_utc() -> None:
    before = utcnow()
    now = SystemClock().now()
    assert now == IsDatetime(ge=before, le=utcnow())
    assert now.tzinfo is UTC


@pytest.mark.anyio
async def test_system_clock_sleep_until_a_past_deadline_returns_immediately() -> None:
    clock = SystemClock()
    start = time.monotonic()
    await clock.sleep_until(clock.now() - timedelta(hours=1))
    await clock.sleep_until(clock.now())
    assert time.monotonic() - start < 0.05


@pytest.mark.anyio
async def test_system_clock_sleep_until_a_near_deadline_waits_for_it() -> None:
    clock = SystemClock()
    deadline = clock.now() + timedelta(milliseconds=30)
    await clock.sleep_until(deadline)
    assert clock.now() >= deadline


def test_virtual_clock_starts_where_told() -> None:
    assert VirtualClock(T0).now() == T0


def test_virtual_clock_defaults_to_the_current_time() -> None:
    before = utcnow()
    assert VirtualClock().now() == IsDatetime(ge=before, le=utcnow())


def test_virtual_clock_only_moves_when_told() -> None:
    clock = VirtualClock(T0)
    time.sleep(0.001)
    assert clock.now() == T0


def test_virtual_clock_advance() -> None:
    clock = VirtualClock(T0)
    assert clock.advance(timedelta(minutes=5)) == T0 + timedelta(minutes=5)
    assert clock.advance(timedelta(0)) == T0 + timedelta(minutes=5)
    assert clock.advance(timedelta(hours=1)) == T0 + timedelta(hours=1, minutes=5)
    assert clock.now() == T0 + timedelta(hours=1, minutes=5)


def test_virtual_clock_advance_never_goes_backwards() -> None:
    clock = VirtualClock(T0)
    with pytest.raises(ValueError):  # noqa: PT011 - the message is not part of the contract
        clock.advance(timedelta(seconds=-1))
    assert clock.now() == T0


@pytest.mark.anyio
async def test_virtual_clock_sleep_until_jumps_to_the_deadline() -> None:
    clock = VirtualClock(T0)
    start = time.monotonic()
    await clock.sleep_until(T0 + timedelta(days=365))
    assert clock.now() == T0 + timedelta(days=365)
    assert time.monotonic() - start < 0.05


@pytest.mark.anyio
async def test_virtual_clock_sleep_until_never_goes_backwards() -> None:
    clock = VirtualClock(T0)
    clock.advance(timedelta(hours=1))
    await clock.sleep_until(T0)
    assert clock.now() == T0 + timedelta(hours=1)
