"""When timer agents tick: the first tick of a schedule and the one after each tick."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from ..agents._patterns import ScheduleSpec

__all__ = ["first_tick", "next_tick"]


def first_tick(schedule: ScheduleSpec, now: datetime) -> datetime | None:
    """The first tick of `schedule` for a run starting at `now` (`None`: a one-off time already passed).

    `every` ticks one interval after the start, or right after `after=`; `at` and `cron` tick at the next
    matching time strictly after the start (plus `after=`).
    """
    start = now + (schedule.after or timedelta(0))
    if schedule.every is not None:
        return start if schedule.after is not None else start + schedule.every
    if isinstance(schedule.at, datetime):
        return schedule.at if schedule.at >= now else None
    return next_tick(schedule, start)


def next_tick(schedule: ScheduleSpec, previous: datetime) -> datetime | None:
    """The tick after the one scheduled at `previous` (`None` for a one-off)."""
    if schedule.every is not None:
        return previous + schedule.every
    if isinstance(schedule.at, time):
        at = schedule.at
        candidate = previous.replace(hour=at.hour, minute=at.minute, second=at.second, microsecond=0)
        return candidate if candidate > previous else candidate + timedelta(days=1)
    if schedule.cron is not None:
        from ..agents._cron import CronExpression  # the parser loads only for cron schedules

        return CronExpression.parse(schedule.cron).next_after(previous)
    return None
