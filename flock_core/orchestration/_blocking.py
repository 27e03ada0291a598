"""Blocking entry points (`Flock.run`) for scripts, refused inside an event loop with a pointer to the async twin."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio

from ..exceptions import EventLoopError

__all__ = ["check_no_event_loop", "run_blocking"]

T = TypeVar("T")


def check_no_event_loop(method: str, async_method: str) -> None:
    """Raise `EventLoopError` (naming the async twin to await) when an event loop runs in this thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise EventLoopError(method, async_method)


def run_blocking(method: str, async_method: str, fn: Callable[[], Awaitable[T]]) -> T:
    """Run `fn()` to completion in a new event loop; refused inside a running one."""
    check_no_event_loop(method, async_method)
    return anyio.run(fn)
