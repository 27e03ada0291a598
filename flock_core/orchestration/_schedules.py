"""Scheduled agents: each tick of a timer becomes a stored work item, and the next tick is armed."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime

from .._clock import Clock
from ..agents._patterns import ScheduleSpec
from ..agents._spec import AgentSpec
from ..blackboard._work import Commit, Tick, TimerState
from ._routing import Routed, work_item
from ._runtime import Runtime
from ._scheduler import Activation
from ._timers import first_tick, next_tick

__all__ = ["Schedules"]


class Schedules:
    """Arms the timers of scheduled agents on the runtime, once per agent.

    Args:
        agents: the declared agents (those with a schedule get a timer).
        clock: the time source.
        timers: the runtime that fires the ticks.
        commit: stores a tick's timer state together with its work item.
    """

    def __init__(
        self,
        agents: Mapping[str, AgentSpec],
        clock: Clock,
        timers: Runtime,
        commit: Callable[[Commit, Routed], Awaitable[bool]],
    ) -> None:
        self._agents = agents
        self._clock = clock
        self._timers = timers
        self._commit = commit
        self._armed: set[str] = set()

    def arm(self, last: Mapping[str, TimerState] | None = None) -> None:
        """Start the timers of scheduled agents that are not running yet (continuing from `last` ticks)."""
        now = self._clock.now()
        for spec in self._agents.values():
            if spec.schedule is None or spec.name in self._armed:
                continue
            self._armed.add(spec.name)
            previous = (last or {}).get(spec.name)
            if previous is None:
                first = first_tick(spec.schedule, now)
                if first is not None:
                    self._arm(spec.name, spec.schedule, 1, first)
            elif spec.schedule.max_repeats is None or previous.number < spec.schedule.max_repeats:
                following = next_tick(spec.schedule, previous.scheduled_at)
                if following is not None:
                    self._arm(spec.name, spec.schedule, previous.number + 1, following)

    def _arm(self, agent: str, schedule: ScheduleSpec, number: int, when: datetime) -> None:
        async def fire() -> None:
            item = work_item(Activation(agent, -1, ()), Tick(number, when))
            await self._commit(Commit(timers=(TimerState(agent, number, when),)), Routed((item,)))
            if schedule.max_repeats is None or number < schedule.max_repeats:
                following = next_tick(schedule, when)
                if following is not None:
                    self._arm(agent, schedule, number + 1, following)

        self._timers.call_at(when, fire, hard=schedule.bounded, kind="tick")
