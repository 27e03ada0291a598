"""Timers: a heartbeat every minute (three ticks) and a cron report, on a virtual clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import anyio
from pydantic import BaseModel

from flock_core import ArtifactCount, EvaluationRequest, Flock
from flock_core.testing import FunctionEngine, VirtualClock


class Heartbeat(BaseModel):
    tick: int
    at: datetime


class Report(BaseModel):
    at: datetime


def fire(request: EvaluationRequest) -> list[BaseModel]:
    assert request.tick is not None
    if request.agent.name == "heartbeat":
        return [Heartbeat(tick=request.tick.number, at=request.tick.scheduled_at)]
    return [Report(at=request.tick.scheduled_at)]


async def main() -> None:
    flock = Flock(engine=FunctionEngine(fire), clock=VirtualClock(datetime(2026, 1, 5, 8, 0, tzinfo=UTC)))
    flock.register_type(Heartbeat)
    flock.register_type(Report)
    flock.agent("heartbeat").schedule(every=timedelta(minutes=1), max_repeats=3).publishes(Heartbeat)
    flock.agent("reporter").schedule(cron="0 9 * * 1-5").publishes(Report)  # unbounded: 09:00 on weekdays

    await flock.run_until_idle()  # waits for the bounded heartbeat's three ticks only
    for beat in await flock.store.get_by_type(Heartbeat):
        print(f"heartbeat {beat.tick} at {beat.at:%H:%M}")
    await flock.run_until(ArtifactCount(Report, at_least=2), timeout=5)  # keeps unbounded timers firing
    for report in await flock.store.get_by_type(Report):
        print(f"report at {report.at:%a %H:%M}")


if __name__ == "__main__":
    anyio.run(main)
