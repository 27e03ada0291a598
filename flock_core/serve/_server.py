"""`serve`: run the HTTP app with uvicorn, blocking until interrupted or in the background of your own code."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
from collections.abc import Awaitable, Collection, Coroutine, Generator
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Self, overload

import anyio
import uvicorn
from starlette.applications import Starlette

from ..blackboard._visibility import AgentIdentity
from ..exceptions import ConfigurationError
from ._app import build_app
from ._auth import ANONYMOUS, Auth
from ._guard import LOOPBACK_HOSTS
from ._state import ServeState

if TYPE_CHECKING:
    from .._flock import Flock

__all__ = [
    "DEFAULT_MAX_CONNECTIONS",
    "DEFAULT_PORT",
    "ServerHandle",
    "is_loopback",
    "serve",
    "serve_mcp_stdio",
    "start_server",
]

_log = logging.getLogger("flock_core.serve")

DEFAULT_PORT = 8344

DEFAULT_MAX_CONNECTIONS = 1000
"""Open connections (and requests in progress) a server takes at once; beyond it, requests get 503."""


def is_loopback(host: str) -> bool:
    """Whether `host` is reachable only from this machine.

    >>> is_loopback("127.0.0.1"), is_loopback("localhost"), is_loopback("0.0.0.0"), is_loopback("::1")
    (True, True, False, True)
    """
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class _Exposure:
    """Where a server listens and who may reach it: what `serve` checks before it binds."""

    host: str
    auth: Auth
    insecure: bool
    allowed_hosts: Collection[str] | None

    def hosts(self) -> Collection[str] | None:
        """The `Host` names the app answers to (`None`: any, for an authenticated server)."""
        if self.allowed_hosts is not None or self.auth is not None:
            return self.allowed_hosts
        wildcard = self.host in {"0.0.0.0", "::", ""}
        return LOOPBACK_HOSTS if is_loopback(self.host) or wildcard else LOOPBACK_HOSTS | {self.host.lower()}

    def check(self) -> None:
        """Refuse an unauthenticated server on a non-loopback interface unless `insecure` says so (and warn)."""
        if self.auth is not None or is_loopback(self.host):
            return
        if not self.insecure:
            raise ConfigurationError(
                f"refusing to serve on {self.host!r} without authentication: anyone who can reach it could read "
                "public artifacts and spend model calls; pass auth=ApiKeys({...}) (flock serve --api-keys-env), "
                "bind 127.0.0.1, or pass insecure=True (--insecure) if that is really meant"
            )
        _log.warning("serving on %s WITHOUT authentication (insecure=True): every caller is anonymous", self.host)


class _Server(uvicorn.Server):
    """A uvicorn server that ends the event streams before shutting down (which waits for open responses)."""

    def __init__(self, config: uvicorn.Config, state: ServeState, *, signals: bool) -> None:
        super().__init__(config)
        self._state = state
        self._signals = signals

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None]:
        """Handle Ctrl-C only when blocking; in the background, signals belong to the program."""
        if self._signals:
            with super().capture_signals():
                yield
        else:
            yield

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """End the event streams, then shut down as uvicorn does."""
        self._state.close_streams()
        await super().shutdown(sockets)


class ServerHandle:
    """A server running in the background of the current event loop; stop it with `await handle.stop()`.

    It is its own asyncio task, so it keeps serving while your code awaits other things, including
    `flock.run_until_idle()`. Also an async context manager that stops the server on exit.
    """

    def __init__(self, server: uvicorn.Server, task: asyncio.Task[None], app: Starlette, host: str, port: int) -> None:
        self._server = server
        self._task = task
        self.app = app
        self.host = host
        self.port = port

    @property
    def url(self) -> str:
        """The server's base URL, for example `http://127.0.0.1:8344`."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def running(self) -> bool:
        """Whether the server task is still running."""
        return not self._task.done()

    async def stop(self) -> None:
        """Stop accepting requests, finish the lifespan (the background worker) and wait for the task."""
        self._server.should_exit = True
        await asyncio.shield(self._task)

    def cancel(self) -> bool:
        """Ask the server to shut down gracefully without waiting (as Flock's task handle); `await` it to wait.

        Returns whether it was still running.
        """
        self._server.should_exit = True
        return not self._task.done()

    def __await__(self) -> Generator[Any, None, None]:
        """Wait until the server has stopped (after `cancel()`, or when it fails)."""
        return asyncio.shield(self._task).__await__()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()


def _bind(host: str, port: int) -> socket.socket:
    """A listening socket, bound here so that a taken port raises `OSError` in the caller.

    It is made with protocol `IPPROTO_TCP` (not 0): accepted sockets inherit it, and asyncio sets
    `TCP_NODELAY` only on sockets of that protocol, so responses are not held back by Nagle's algorithm.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)  # connections made as soon as the URL is printed wait in the backlog
    except OSError:
        sock.close()
        raise
    return sock


async def _serve_quietly(server: uvicorn.Server, sock: socket.socket) -> None:
    try:
        await server.serve(sockets=[sock])
    except SystemExit:  # uvicorn exits the process on startup failures; a background server must not
        _log.exception("the background server failed to start")
    finally:
        sock.close()


async def start_server(
    flock: Flock,
    *,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    dashboard: bool = True,
    auth: Auth = None,
    max_body_bytes: int = 1_000_000,
    mcp: bool = False,
    drive: Literal["api", "always"] = "api",
    max_connections: int = DEFAULT_MAX_CONNECTIONS,
    allowed_hosts: Collection[str] | None = None,
    insecure: bool = False,
) -> ServerHandle:
    """Start serving `flock` in the background of the running event loop (asyncio); return once listening.

    `port=0` picks a free port (read it from `handle.port` / `handle.url`). Work published through the
    API is run by the server (`drive="api"`); run your own publishes with `await flock.run_until_idle()`.
    `mcp=True` also serves the Flock as an MCP server at `/mcp`. With `drive="always"` the server runs
    every publish and fires scheduled agents, as a blocking server does.
    """
    exposure = _Exposure(host, auth, insecure, allowed_hosts)
    exposure.check()
    app, state = build_app(
        flock,
        auth=auth,
        max_body_bytes=max_body_bytes,
        dashboard=dashboard,
        drive=drive,
        mcp=mcp,
        allowed_hosts=exposure.hosts(),
    )
    sock = _bind(host, port)
    config = uvicorn.Config(
        app, log_level="warning", lifespan="on", access_log=False, limit_concurrency=max_connections + 1
    )
    server = _Server(config, state, signals=False)
    task = asyncio.get_running_loop().create_task(_serve_quietly(server, sock), name=f"flock-serve-{host}:{port}")
    try:
        while not server.started:
            if task.done():
                raise ConfigurationError(f"the server on {host}:{port} stopped during startup (see the log)")
            await asyncio.sleep(0.005)
    except BaseException:  # cancelled while starting (it may already be serving): stop it, leave nothing behind
        server.should_exit = True
        with anyio.CancelScope(shield=True):
            await asyncio.wait([task])
        raise
    return ServerHandle(server, task, app, host, sock.getsockname()[1])


class _Served:
    """What a blocking `serve()` from synchronous code returns: it already ran, awaiting it does nothing."""

    def __await__(self) -> Generator[Any, None, None]:
        return
        yield


async def _serve_until_cancelled(flock: Flock, host: str, port: int, **options: Any) -> None:
    """`await flock.serve()` inside a running loop: serve (and run every publish) until cancelled."""
    handle = await start_server(flock, host=host, port=port, drive="always", **options)
    _log.info("serving on %s", handle.url)
    try:
        await handle
    finally:
        with anyio.CancelScope(shield=True):  # cancelled: stop serving before the cancellation completes
            await handle.stop()


def _in_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _serve_blocking(
    flock: Flock,
    host: str,
    port: int,
    *,
    dashboard: bool,
    auth: Auth,
    max_body_bytes: int,
    mcp: bool,
    max_connections: int,
    allowed_hosts: Collection[str] | None,
    insecure: bool,
) -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise ConfigurationError("serve(blocking=True) cannot run inside an event loop; use blocking=False")
    exposure = _Exposure(host, auth, insecure, allowed_hosts)
    exposure.check()
    app, state = build_app(
        flock,
        auth=auth,
        max_body_bytes=max_body_bytes,
        dashboard=dashboard,
        drive="always",
        mcp=mcp,
        allowed_hosts=exposure.hosts(),
    )
    sock = _bind(host, port)
    config = uvicorn.Config(app, log_level="info", lifespan="on", limit_concurrency=max_connections + 1)
    bound = sock.getsockname()[1]
    print(f"flock: serving on http://{f'[{host}]' if ':' in host else host}:{bound} (Ctrl-C stops)", flush=True)
    try:
        _Server(config, state, signals=True).run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn re-raises the Ctrl-C it handled; serving ended as asked
        _log.info("server stopped")
    finally:
        sock.close()


@overload
def serve(
    flock: Flock,
    *,
    host: str = ...,
    port: int = ...,
    dashboard: bool = ...,
    blocking: Literal[True] = ...,
    auth: Auth = ...,
    max_body_bytes: int = ...,
    mcp: bool = ...,
    max_connections: int = ...,
    allowed_hosts: Collection[str] | None = ...,
    insecure: bool = ...,
) -> Awaitable[None]: ...
@overload
def serve(
    flock: Flock,
    *,
    host: str = ...,
    port: int = ...,
    dashboard: bool = ...,
    blocking: Literal[False],
    auth: Auth = ...,
    max_body_bytes: int = ...,
    mcp: bool = ...,
    max_connections: int = ...,
    allowed_hosts: Collection[str] | None = ...,
    insecure: bool = ...,
) -> Coroutine[Any, Any, ServerHandle]: ...
def serve(
    flock: Flock,
    *,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    dashboard: bool = True,
    blocking: bool = True,
    auth: Auth = None,
    max_body_bytes: int = 1_000_000,
    mcp: bool = False,
    max_connections: int = DEFAULT_MAX_CONNECTIONS,
    allowed_hosts: Collection[str] | None = None,
    insecure: bool = False,
) -> Coroutine[Any, Any, ServerHandle] | Awaitable[None]:
    """Serve `flock` over HTTP (API, event stream, metrics and, with `dashboard`, the dashboard at `/`).

    - `blocking=True` (from synchronous code): print the URL, then run until interrupted (Ctrl-C); the
      server keeps the Flock running: every publish is processed and scheduled agents fire. Inside a
      running event loop, `await serve(flock)` does the same until the awaiting task is cancelled
      (Flock's `main_dashboard()`).
    - `blocking=False` (inside async code): `handle = await serve(flock, blocking=False)` starts the server
      in the background of the running event loop and returns a `ServerHandle` (`.url`, `await .stop()`).
      Work published through the API is run by the server; your own publishes by your `run_until_idle()`.
    - `mcp=True` also serves the Flock as an MCP server (streamable HTTP) at `/mcp`.

    Without `auth`, the server answers only to loopback host names (`allowed_hosts` adds others) and
    refuses to bind a non-loopback interface unless `insecure=True` (it then logs a warning).
    `max_connections` caps open connections and requests in progress (beyond it: 503).
    """
    options: dict[str, Any] = {
        "dashboard": dashboard,
        "auth": auth,
        "max_body_bytes": max_body_bytes,
        "mcp": mcp,
        "max_connections": max_connections,
        "allowed_hosts": allowed_hosts,
        "insecure": insecure,
    }
    if blocking and _in_event_loop():
        return _serve_until_cancelled(flock, host, port, **options)
    if blocking:
        _serve_blocking(flock, host, port, **options)
        return _Served()
    return start_server(flock, host=host, port=port, **options)


async def serve_mcp_stdio(flock: Flock, *, identity: AgentIdentity = ANONYMOUS) -> None:
    """Serve `flock` as an MCP server over this process's stdin and stdout, acting as `identity`.

    The Flock's work runs meanwhile (as `serve(blocking=True)` does). Returns when the client closes stdin.
    """
    try:
        from ._mcp_server import run_mcp_stdio
    except ImportError as exc:
        raise ConfigurationError(
            f'serving MCP needs the mcp package 2.x: pip install "flockboard[mcp]" ({exc})'
        ) from None
    _, state = build_app(flock, auth=None, max_body_bytes=1_000_000, dashboard=False, drive="always")
    async with anyio.create_task_group() as group:
        group.start_soon(state.worker.run)
        await run_mcp_stdio(state, identity)
        group.cancel_scope.cancel()
