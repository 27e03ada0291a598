"""Back-pressure: a bound on the work and held inputs a board takes in, applied where input enters (`publish`).

The load is what publishing adds to and running removes: activations queued or running here, retries
waiting for their backoff, and inputs held in gates, joins, batches and activation conditions (on a
shared board, also the store's unrouted, pending and claimed work). At `max_pending`, `publish` waits
until there is room (`when_full="wait"`) or raises `QueueFullError` (`"raise"`). Outputs of agents are
never refused: a run in progress always finishes, so the bound is on admission, and fan-out may exceed it.

Waiting never hangs: while another task drives the board (a run, a worker, the server), the publisher
waits for its progress; when nothing drives it, the publisher runs the queued work itself until there is
room. When nothing queued or running can make room (only inputs held in joins or batches that wait for
partners), it raises `QueueFullError` instead of waiting forever.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Literal

from ..exceptions import ConfigurationError, QueueFullError
from ._runtime import Runtime

__all__ = ["Admission", "WhenFull"]

WhenFull = Literal["wait", "raise"]


class Admission:
    """Admits a publish when the board's load is below `limit`, waiting or refusing otherwise.

    Args:
        limit: `Flock(max_pending=...)`; `None`: no bound.
        when_full: wait for room, or raise `QueueFullError`.
        runtime: this process's work loop (its progress wakes a waiting publisher).
        load: the board's load now.
        drive: runs the board until `room()` is true or it is idle (used when nothing else drives it).
    """

    def __init__(
        self,
        limit: int | None,
        when_full: WhenFull,
        runtime: Runtime,
        load: Callable[[], Awaitable[int]],
        drive: Callable[[Callable[[], Awaitable[bool]]], Awaitable[None]],
    ) -> None:
        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise ConfigurationError(
                f"Flock(max_pending={limit!r}): an int >= 1 (or None: no bound), e.g. max_pending=1000",
                setting="max_pending",
            )
        if when_full not in ("wait", "raise"):
            raise ConfigurationError(
                f"Flock(when_full={when_full!r}): 'wait' (publish waits for room) or 'raise' (QueueFullError)",
                setting="when_full",
            )
        self.limit = limit
        self._when_full = when_full
        self._runtime = runtime
        self._load = load
        self._drive = drive

    async def _room(self) -> bool:
        return self.limit is None or await self._load() < self.limit

    async def admit(self) -> None:
        """Return once the board has room for one more input (at once when it has, or without a bound)."""
        if self.limit is None:
            return
        while (pending := await self._load()) >= self.limit:
            if self._when_full == "raise":
                raise QueueFullError(self.limit, pending, "wait for the queued work to run, or publish later")
            if self._runtime.driving:
                await self._runtime.progressed()
                continue
            await self._drive(self._room)
            if not self._runtime.driving and (pending := await self._load()) >= self.limit:
                raise QueueFullError(
                    self.limit,
                    pending,
                    "nothing queued or running can make room: the held inputs wait for partners in joins, "
                    "gates or batches (raise max_pending, or give the joins a window)",
                )
