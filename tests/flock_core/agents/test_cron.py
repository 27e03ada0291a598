"""The cron evaluator used by `.schedule(cron=...)`."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from flock_core.agents._cron import CronExpression
from flock_core.exceptions import UserError

T = datetime(2026, 11, 27, 9, 7, tzinfo=UTC)  # a Friday


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("* * * * *", "2026-11-27T09:08"),
        ("0 * * * *", "2026-11-27T10:00"),
        ("30 9 * * *", "2026-11-27T09:30"),
        ("0 9 * * *", "2026-11-28T09:00"),
        ("0 0 1 * *", "2026-12-01T00:00"),
        ("0 12 * * 1", "2026-11-30T12:00"),
        ("0 12 * * 7", "2026-11-29T12:00"),
        ("5,10 9 * * *", "2026-11-27T09:10"),
        ("*/20 9-10 * * 1-5", "2026-11-27T09:20"),
        ("0 0 29 2 *", "2028-02-29T00:00"),
        ("0 0 1 * 1", "2026-11-30T00:00"),
    ],
)
def test_next_after(expression: str, expected: str) -> None:
    assert CronExpression.parse(expression).next_after(T).isoformat()[:16] == expected


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("* * * *", "must have 5 fields"),
        ("60 * * * *", "minute field"),
        ("* 24 * * *", "hour field"),
        ("x * * * *", "minute field 'x' is not valid"),
        ("*/0 * * * *", "minute field"),
    ],
)
def test_invalid_expressions_name_the_field(expression: str, message: str) -> None:
    with pytest.raises(UserError, match=message):
        CronExpression.parse(expression)
