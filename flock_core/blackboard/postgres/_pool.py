"""The store's connections: a small pool bound to one event loop, and `LISTEN` for change notices."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import psycopg
from psycopg import AsyncConnection, sql
from psycopg.pq import TransactionStatus

from ...exceptions import ConfigurationError, StoreError

__all__ = ["Connections", "close_quietly", "describe", "running_loop"]

_log = logging.getLogger("flock_core.postgres")


class Connections:
    """A small pool of autocommit connections to one server, bound to the event loop that opened it.

    A connection goes back to the pool only when it is idle and healthy; one left inside a transaction or
    in an unknown state (cancelled mid-statement, broken socket) is closed instead. Server errors become
    `StoreError`.
    """

    def __init__(self, info: str, size: int, label: str) -> None:
        self.info = info
        self.label = label
        self._idle: list[AsyncConnection[Any]] = []
        self._slots = anyio.Semaphore(size, fast_acquire=True)  # a free slot costs no event-loop round
        self._listener: AsyncConnection[Any] | None = None
        self._backoff = 0.05
        self._closed = False
        self.loop = asyncio.get_running_loop()

    async def connect(self) -> AsyncConnection[Any]:
        """A new autocommit connection outside the pool (the caller closes it)."""
        try:
            return await AsyncConnection.connect(self.info, autocommit=True)
        except psycopg.Error as exc:
            raise StoreError(f"{self.label}: cannot connect: {exc}") from exc

    @asynccontextmanager
    async def connection(self) -> AsyncGenerator[AsyncConnection[Any]]:
        """Borrow a pooled connection."""
        async with self._slots:
            conn = self._idle.pop() if self._idle else await self.connect()
            try:
                yield conn
            except psycopg.Error as exc:
                raise StoreError(f"{self.label}: {describe(exc)}") from exc
            finally:
                if self._closed or conn.broken or conn.info.transaction_status != TransactionStatus.IDLE:
                    await close_quietly(conn)
                else:
                    self._idle.append(conn)

    @asynccontextmanager
    async def transaction(self) -> AsyncGenerator[AsyncConnection[Any]]:
        """Borrow a pooled connection inside one transaction (committed on success, else rolled back).

        The connection is in pipeline mode: statements are sent without waiting for their results, so a
        transaction costs a round trip per result read (`fetchone`) plus one for the commit.
        """
        async with self.connection() as conn, conn.pipeline(), conn.transaction():
            yield conn

    async def wait_for_notify(self, channel: str, timeout: float) -> None:
        """Return on a `NOTIFY` on `channel` or after `timeout` s; if `LISTEN` fails, back off, then retry."""
        try:
            if self._listener is None:
                self._listener = await self.connect()
                await self._listener.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
            async for _ in self._listener.notifies(timeout=timeout, stop_after=1):
                pass
            self._backoff = 0.05
        except (psycopg.Error, StoreError) as exc:
            _log.warning("%s: LISTEN failed (%s); polling every %.2f s", self.label, exc, self._backoff)
            listener, self._listener = self._listener, None
            await close_quietly(listener)
            await anyio.sleep(min(self._backoff, timeout))
            self._backoff = min(self._backoff * 2, 2.0)

    async def close(self) -> None:
        """Close the idle connections and the listener (borrowed ones are closed when they come back)."""
        self._closed = True
        idle, self._idle, listener, self._listener = self._idle, [], self._listener, None
        for conn in [*idle, listener]:
            await close_quietly(conn)

    def abandon(self) -> None:
        """Drop the connections of a finished event loop without awaiting it (their sockets are closed)."""
        idle, self._idle, listener, self._listener = self._idle, [], self._listener, None
        for conn in [*idle, listener]:
            if conn is not None:
                conn.pgconn.finish()


def describe(exc: psycopg.Error) -> str:
    """What a server error means for the store's caller."""
    if isinstance(exc, psycopg.errors.UniqueViolation) and exc.diag.constraint_name == "artifacts_id_key":
        return f"{exc.diag.message_detail or 'an artifact id'} is already stored; artifacts are immutable"
    if isinstance(exc, psycopg.errors.InsufficientPrivilege):
        return f"refused by the tenant scope of this store (row-level security): {exc.diag.message_primary}"
    return str(exc)


async def close_quietly(conn: AsyncConnection[Any] | None) -> None:
    """Close `conn` even inside a cancelled scope; a connection that fails to close is already gone."""
    if conn is None or conn.closed:
        return
    with anyio.CancelScope(shield=True):
        try:
            await conn.close()
        except psycopg.Error:
            conn.pgconn.finish()


def running_loop() -> asyncio.AbstractEventLoop:
    """The running asyncio event loop, which a store's connections are bound to."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError as exc:
        raise ConfigurationError("PostgresBlackboardStore needs the asyncio event loop") from exc
