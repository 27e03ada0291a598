"""A small, dependency-free evaluator of 5-field cron expressions (UTC)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from ..exceptions import UserError

__all__ = ["CronExpression"]

_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day", 1, 31), ("month", 1, 12), ("weekday", 0, 6))


def _parse_part(part: str, low: int, high: int, name: str) -> set[int]:
    step = 1
    if "/" in part:
        part, step_text = part.split("/", 1)
        step = int(step_text)
    if part == "*":
        start, end = low, high
    elif "-" in part:
        start, end = (int(x) for x in part.split("-", 1))
    else:
        start = end = int(part)
        if step != 1:
            end = high
    if not (low <= start <= end <= high) or step < 1:
        raise UserError(f"cron {name} field {part!r} is outside {low}-{high}")
    return set(range(start, end + 1, step))


@dataclass(frozen=True, slots=True)
class CronExpression:
    """A parsed cron expression: `minute hour day month weekday` (weekday 0 = Sunday; 7 is also Sunday).

    Lists (`1,15`), ranges (`1-5`), steps (`*/10`) and `*` are supported. When both day-of-month and
    day-of-week are restricted, a time matches if either does (classic cron semantics).

    >>> from datetime import UTC
    >>> CronExpression.parse("*/15 9-17 * * 1-5").next_after(datetime(2026, 11, 27, 9, 7, tzinfo=UTC)).isoformat()
    '2026-11-27T09:15:00+00:00'
    """

    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    day_restricted: bool
    weekday_restricted: bool

    @classmethod
    def parse(cls, text: str) -> CronExpression:
        """Parse `text`; raises `UserError` naming the bad field."""
        parts = text.split()
        if len(parts) != 5:
            raise UserError(f"cron expression {text!r} must have 5 fields, got {len(parts)}")
        values: list[frozenset[int]] = []
        for raw, (name, low, high) in zip(parts, _FIELDS, strict=True):
            try:
                items: set[int] = set()
                for piece in raw.split(","):
                    items |= _parse_part(piece, low, high + (1 if name == "weekday" else 0), name)
            except ValueError as exc:
                raise UserError(f"cron {name} field {raw!r} is not valid: {exc}") from exc
            values.append(frozenset(items))
        weekdays = frozenset(d % 7 for d in values[4])
        return cls(values[0], values[1], values[2], values[3], weekdays, parts[2] != "*", parts[4] != "*")

    def _day_matches(self, at: datetime) -> bool:
        day_ok = at.day in self.days
        weekday_ok = (at.isoweekday() % 7) in self.weekdays
        if self.day_restricted and self.weekday_restricted:
            return day_ok or weekday_ok
        return day_ok and weekday_ok

    def next_after(self, after: datetime) -> datetime:
        """The first matching minute strictly after `after`."""
        at = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
        for _ in range(366 * 24 * 60):
            if at.month not in self.months or not self._day_matches(at):
                at = (at + timedelta(days=1)).replace(hour=0, minute=0)
            elif at.hour not in self.hours:
                at = (at + timedelta(hours=1)).replace(minute=0)
            elif at.minute not in self.minutes:
                at += timedelta(minutes=1)
            else:
                return at
        raise UserError("cron expression never matches within a year")
