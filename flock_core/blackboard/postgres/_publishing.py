"""Commits that only add artifacts (publishes): one statement each, and one transaction for concurrent ones.

On a shared board a publish stores its artifact and nothing else (the router routes it later), so its
commit has nothing to check and always lands. It runs as one statement in its own implicit transaction
(`PUBLISH`: the sequence lock, the insert, the change notice): one round trip instead of a transaction's
several.

The sequence lock is held until the commit is flushed to the WAL, so concurrent publishes serialise on
that flush. Group commit lifts the limit within a process: publishes that arrive while one is being
written wait for it, then go together in one statement (one transaction, one flush), each caller still
returning only once its artifacts are committed. A group that fails (an artifact id already stored, say)
is retried one commit at a time, so only the commit at fault fails.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio

from ...exceptions import StoreError
from .._shared import BoardState
from .._work import Commit
from . import _statements as pg
from ._pool import Connections

__all__ = ["Publishing", "only_appends"]

_log = logging.getLogger("flock_core.postgres")

Routing = tuple[int, BoardState]
"""The router's cursor and board state, recorded with a commit made by the router."""


def only_appends(commit: Commit) -> bool:
    """Whether `commit` only adds artifacts (nothing to check, complete, enqueue or hold): a publish."""
    return bool(commit.artifacts) and commit == Commit(artifacts=commit.artifacts)


@dataclass(slots=True, eq=False)  # compared by identity: each is one caller's publish
class _Waiting:
    commit: Commit
    routing: Routing | None
    done: asyncio.Future[None] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class Publishing:
    """Writes publishes of one store: each in one statement, concurrent ones in one group.

    Args:
        connections: the store's pool (opened on first use).
        seq_key: the advisory lock key that orders new rows (see `PostgresBlackboardStore.unrouted`).
        channel: the `NOTIFY` channel of the board.
        leader: this process's router identity, or `None` when it does not lead.
        fenced: called when a routed publish finds that another process leads now.
    """

    def __init__(
        self,
        connections: Callable[[], Awaitable[Connections]],
        *,
        seq_key: int,
        channel: str,
        leader: Callable[[], str | None],
        fenced: Callable[[], None],
    ) -> None:
        self._connections = connections
        self._seq_key = seq_key
        self._channel = channel
        self._leader = leader
        self._fenced = fenced
        self._queue: list[_Waiting] = []
        self._writing = anyio.Lock(fast_acquire=True)
        self._loop: asyncio.AbstractEventLoop | None = None

    async def publish(self, commit: Commit, routing: Routing | None = None) -> bool:
        """Commit `commit` (artifacts only), with the router's state when the router makes it; always True."""
        if (loop := asyncio.get_running_loop()) is not self._loop:  # a new event loop: nothing carries over
            self._loop, self._queue, self._writing = loop, [], anyio.Lock(fast_acquire=True)
        waiting = _Waiting(commit, routing)
        self._queue.append(waiting)
        try:
            async with self._writing:  # one group in flight; the next one gathers meanwhile
                if not waiting.done.done():
                    group, self._queue = self._queue, []
                    with anyio.CancelScope(shield=True):  # the group's other callers wait on this write
                        await self._write_group(group, waiting)
        except BaseException:
            if waiting in self._queue:  # cancelled before any group took it: it is not written
                self._queue.remove(waiting)
            raise
        await waiting.done
        return True

    async def _write_group(self, group: list[_Waiting], own: _Waiting) -> None:
        """Write `group` and settle every commit's outcome; `own` (the caller's) fails by raising."""
        try:
            await self._write(group)
        except StoreError as exc:
            if len(group) == 1:
                raise
            _log.info("a group of %d publishes failed (%s); writing them one at a time", len(group), exc)
            for one in group:
                try:
                    await self._write([one])
                except StoreError as alone:
                    one.done.set_exception(alone)
                else:
                    one.done.set_result(None)
            return
        except BaseException as exc:  # not a server error (a bug, say): the others must not wait forever
            for one in group:
                if one is not own:
                    one.done.set_exception(StoreError(f"a publish in its group failed: {exc!r}"))
            raise
        for one in group:
            one.done.set_result(None)

    async def _write(self, group: list[_Waiting]) -> None:
        """One statement for the whole group (one transaction, one WAL flush)."""
        artifacts = [a.model_dump_json() for one in group for a in one.commit.artifacts]
        single = len(artifacts) == 1  # the usual publish: its JSON as a scalar parameter, not an array
        rows: str | list[str] = artifacts[0] if single else artifacts
        routed = [one.routing for one in group if one.routing is not None]
        leader = self._leader()
        params: list[Any]
        if routed:
            cursor, state = routed[-1]  # the router's latest view
            params = [self._seq_key, rows, cursor, state.open_groups, state.delayed, leader, self._channel]
            statement = pg.PUBLISH_ROUTED_ONE if single else pg.PUBLISH_ROUTED
        else:
            params = [self._seq_key, rows, self._channel]
            statement = pg.PUBLISH_ONE if single else pg.PUBLISH
        db = await self._connections()
        async with db.connection() as conn:
            cursor_ = await conn.execute(statement, params)
            row = await cursor_.fetchone()
        if routed and (leader is None or row is None or row[0] != leader):
            _log.warning("the router lead was lost; its routing is dropped (the new router replays the board)")
            self._fenced()
