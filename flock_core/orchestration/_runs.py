"""Runs with a time limit: `run_until_idle(timeout=)` and `run_until(condition, timeout=)`.

At the timeout no new activation starts; running ones finish (cancelled only after a grace of a tenth of
the timeout plus a second) and queued work stays pending for the next run: nothing is lost.

- `run_until_idle` reports a timeout as unfinished work, except with unbounded timers
  (`schedule(every=...)` without `max_repeats`): then, as in Flock, the timers keep firing until the
  timeout and the run ends there normally.
- `run_until` returns `False` when the condition cannot become true or the timeout passes first.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal

import anyio

from ._conditions import Condition, ConditionView

if TYPE_CHECKING:
    from ._orchestrator import Orchestrator

__all__ = ["drive_until", "drive_until_idle"]

_Ending = Literal["done", "timeout", "cancelled"]


def _has_unbounded_timers(core: Orchestrator) -> bool:
    return any(s.schedule is not None and not s.schedule.bounded for s in core.specs.values())


async def _nothing() -> None:
    return None


async def _drive(
    core: Orchestrator,
    timeout: float | None,
    stop: Callable[[], Awaitable[bool]] | None,
    *,
    keep_alive: bool,
    deadline: datetime | None = None,
) -> _Ending:
    """Drive until idle or `stop`; at `timeout` (or the clock's `deadline`) stop starting work.

    Returns how the run ended. Activations running at the timeout finish (they are
    cancelled only after a grace of a tenth of the timeout plus a second); queued work stays pending.
    """
    if timeout is None:
        await core.runtime.drive(core, stop=stop, keep_alive=keep_alive)
        return "done"
    timed_out = False

    async def stop_or_timeout() -> bool:
        nonlocal timed_out
        timed_out = timed_out or (deadline is not None and core.clock.now() >= deadline)
        return timed_out or (stop is not None and await stop())

    async def watch() -> None:
        nonlocal timed_out
        await anyio.sleep(timeout)
        timed_out = True
        core.runtime.call_at(core.clock.now(), _nothing, hard=False, kind="tick")  # wakes the loop to stop

    with anyio.move_on_after(timeout * 1.1 + 1) as scope:
        async with anyio.create_task_group() as group:
            group.start_soon(watch)
            await core.runtime.drive(core, stop=stop_or_timeout, keep_alive=keep_alive)
            group.cancel_scope.cancel()
    return "cancelled" if scope.cancelled_caught else "timeout" if timed_out else "done"


async def drive_until_idle(core: Orchestrator, timeout: float | None) -> bool:
    """Drive `core` until idle; `False` if `timeout` came first. With unbounded timers and a timeout, the
    timers keep the run going until the timeout, which then ends it normally (`True`)."""
    if timeout is None or not _has_unbounded_timers(core):
        return await _drive(core, timeout, None, keep_alive=False) == "done"
    deadline = core.clock.now() + timedelta(seconds=timeout)
    core.runtime.call_at(deadline, _nothing, hard=False, kind="tick")  # the timers run until the deadline
    return await _drive(core, timeout, None, keep_alive=True, deadline=deadline) != "cancelled"


async def drive_until(core: Orchestrator, condition: Condition, timeout: float | None) -> bool:
    """Drive `core` until `condition` holds (`True`), or it cannot (`False`), or `timeout` passes (`False`)."""
    met = False

    async def check(idle: bool = False) -> bool:
        nonlocal met
        met = await condition.check(ConditionView(core.store, idle, core.registry))
        return met

    ending = await _drive(core, timeout, check, keep_alive=True)
    if not met:
        await check(idle=ending == "done")  # after a timeout: the activations that finished in the grace count
    return met
