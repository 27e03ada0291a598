"""The server's driver: runs a Flock's work after API publishes (or all the time), one driver at a time."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Literal, TypeAlias
from weakref import WeakKeyDictionary

import anyio

from ..orchestration._conditions import Condition, ConditionView
from ..orchestration._events import ArtifactPublished, FlockEvent, WorkflowPaused

if TYPE_CHECKING:
    from .._flock import Flock

__all__ = ["DriveMode", "Worker", "drive_lock"]

_log = logging.getLogger("flock_core.serve")

DriveMode: TypeAlias = Literal["api", "always", "never"]
"""How a served app runs the Flock's work while its lifespan runs (under uvicorn, for example).

- `"api"`: `run_until_idle()` after each publish or published agent run that came through the API (unless
  the Flock is idle then: nothing to run); work published by your own code is run by your own
  `run_until_idle()` calls (the mode of `serve(blocking=False)`).
- `"always"`: keep the Flock running: every publish is processed and scheduled agents fire on time
  (the mode of `serve(blocking=True)`, where nothing else drives the Flock).
- `"never"`: the app only reads and publishes; something else runs the work.
"""

_locks: WeakKeyDictionary[Flock, anyio.Lock] = WeakKeyDictionary()


def drive_lock(flock: Flock) -> anyio.Lock:
    """The lock that keeps the servers of one Flock from driving it at the same time."""
    lock = _locks.get(flock)
    if lock is None:
        lock = _locks[flock] = anyio.Lock()
    return lock


class _Forever(Condition):
    """Never holds: `run_until(_Forever())` runs while there is work or a timer, and returns when idle."""

    async def check(self, view: ConditionView) -> bool:
        return False

    def __str__(self) -> str:
        return "forever"


class Worker:
    """Drives one Flock in the background of a served app; `wake()` asks for a run."""

    def __init__(self, flock: Flock, mode: DriveMode) -> None:
        self.flock = flock
        self.mode = mode
        self.runs = 0
        self._wanted = anyio.Event()

    def wake(self) -> None:
        """Ask for a run (after an API publish); runs requested while one is going are merged.

        In `"api"` mode nothing is asked when the Flock is idle (the publish queued no work, filled no gate,
        join or batch, and nothing else is waiting): that run would do nothing but cost the request's CPU.
        """
        if self.mode != "api" or not self.flock.idle:
            self._wanted.set()

    def observe(self, event: FlockEvent) -> None:
        """In `"always"` mode, every stored artifact and every resumed workflow asks for a run."""
        resumed = isinstance(event, WorkflowPaused) and not event.paused
        if self.mode == "always" and (isinstance(event, ArtifactPublished) or resumed):
            self._wanted.set()

    async def run(self) -> None:
        """Serve run requests until cancelled (in `"always"` mode, start with one: resume pending work)."""
        if self.mode == "never":
            return
        if self.mode == "always":
            self._wanted.set()
        while True:
            await self._wanted.wait()
            self._wanted = anyio.Event()
            async with drive_lock(self.flock):
                await self._drive()

    async def _drive(self) -> None:
        try:
            if self.mode == "always":
                await self.flock.run_until(_Forever(), cancel_rest=False)  # work published meanwhile stays
            else:
                await self.flock.run_until_idle()
        except Exception:  # noqa: BLE001 - a failed run is logged; the server keeps serving and retries on the next publish
            _log.exception("the server's background run of the Flock failed")
        self.runs += 1
