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
from typing import Literal

import anyio

from .._clock import Clock
from ._runtime import Runtime, RuntimeHost

__all__ = ["drive_until", "drive_until_idle"]

_Ending = Literal["done", "timeout", "cancelled"]


async def _nothing() -> None:
    return None


async def _drive(
    runtime: Runtime,
    host: RuntimeHost,
    clock: Clock,
    timeout: float | None,
    stop: Callable[[], Awaitable[bool]] | None,
    *,
    keep_alive: bool,
    deadline: datetime | None = None,
) -> _Ending:
    """Drive until idle or `stop`; at `timeout` (or the clock's `deadline`) stop starting work."""
    if timeout is None:
        await runtime.drive(host, stop=stop, keep_alive=keep_alive)
        return "done"
    timed_out = False

    def out_of_time() -> bool:
        nonlocal timed_out
        timed_out = timed_out or (deadline is not None and clock.now() >= deadline)
        return timed_out

    async def stop_or_timeout() -> bool:
        return out_of_time() or (stop is not None and await stop())

    async def watch() -> None:
        nonlocal timed_out
        await anyio.sleep(timeout)
        timed_out = True
        runtime.call_at(clock.now(), _nothing, hard=False, kind="tick")  # wakes the loop to stop

    with anyio.move_on_after(timeout * 1.1 + 1) as scope:
        async with anyio.create_task_group() as group:
            group.start_soon(watch)
            if stop is None:  # only the time limit to check: tasks may take their next activation themselves
                await runtime.drive(host, keep_alive=keep_alive, halted=out_of_time)
            else:
                await runtime.drive(host, stop=stop_or_timeout, keep_alive=keep_alive)
            group.cancel_scope.cancel()
    return "cancelled" if scope.cancelled_caught else "timeout" if timed_out else "done"


async def drive_until_idle(
    runtime: Runtime, host: RuntimeHost, clock: Clock, timeout: float | None, *, unbounded_timers: bool
) -> bool:
    """Drive until idle; `False` if `timeout` came first. With unbounded timers and a timeout, the timers
    keep the run going until the timeout, which then ends it normally (`True`)."""
    if timeout is None or not unbounded_timers:
        return await _drive(runtime, host, clock, timeout, None, keep_alive=False) == "done"
    deadline = clock.now() + timedelta(seconds=timeout)
    runtime.call_at(deadline, _nothing, hard=False, kind="tick")  # the timers run until the deadline
    return await _drive(runtime, host, clock, timeout, None, keep_alive=True, deadline=deadline) != "cancelled"


async def drive_until(
    runtime: Runtime,
    host: RuntimeHost,
    clock: Clock,
    check: Callable[[bool], Awaitable[bool]],
    timeout: float | None,
) -> bool:
    """Drive until `check(idle)` holds (`True`), or it cannot (`False`), or `timeout` passes (`False`)."""
    met = False

    async def stop() -> bool:
        nonlocal met
        met = await check(False)
        return met

    ending = await _drive(runtime, host, clock, timeout, stop, keep_alive=True)
    if not met:
        met = await check(ending == "done")  # after a timeout: activations that finished in the grace count
    return met
