"""`create_app`: the Starlette application that serves one Flock (API, event stream, metrics, dashboard)."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Collection
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from .._version import __version__
from ..exceptions import ConfigurationError
from ._agent_routes import agent_routes
from ._approval_routes import approval_routes
from ._artifact_routes import artifact_routes
from ._auth import Auth
from ._control_routes import control_routes
from ._conversation_routes import conversation_routes
from ._dead_letter_routes import dead_letter_routes
from ._guard import LOOPBACK_HOSTS, Guard
from ._http import ApiError, error_response
from ._metrics import CONTENT_TYPE, Metrics
from ._openapi import docs_page, openapi_document
from ._state import ServeState
from ._stream import event_routes
from ._trace_context import TraceContextMiddleware
from ._worker import DriveMode, Worker

if TYPE_CHECKING:
    from .._flock import Flock
    from ._mcp_server import McpEndpoint

__all__ = ["STATIC", "build_app", "create_app"]

STATIC = Path(__file__).parent / "static"
"""The dashboard's files (plain HTML, CSS and JavaScript, shipped as package data)."""


def _service_routes(state: ServeState, dashboard: bool) -> list[BaseRoute]:
    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok", "version": __version__, "agents": len(state.flock.agents)})

    async def metrics(request: Request) -> Response:
        await state.identity(request)
        return PlainTextResponse(state.metrics.render(), media_type=CONTENT_TYPE)

    async def openapi(request: Request) -> Response:
        return JSONResponse(openapi_document(state))

    async def docs(request: Request) -> Response:
        return HTMLResponse(docs_page(openapi_document(state)))

    async def index(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    routes: list[BaseRoute] = [
        Route("/health", health, methods=["GET"], name="health"),
        Route("/metrics", metrics, methods=["GET"], name="metrics"),
        Route("/openapi.json", openapi, methods=["GET"], name="openapi"),
        Route("/docs", docs, methods=["GET"], name="docs"),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    if dashboard:
        routes.append(Route("/", index, methods=["GET"], name="dashboard"))
    return routes


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return error_response(ApiError(exc.status_code, code, str(exc.detail)))


def _mcp_endpoint(state: ServeState) -> McpEndpoint:
    try:
        from ._mcp_server import McpEndpoint
    except ImportError as exc:
        raise ConfigurationError(
            f'serving MCP needs the mcp package 2.x: pip install "flockboard[mcp]" ({exc})'
        ) from None
    return McpEndpoint(state)


def build_app(
    flock: Flock,
    *,
    auth: Auth,
    max_body_bytes: int,
    dashboard: bool,
    drive: DriveMode,
    mcp: bool = False,
    allowed_hosts: Collection[str] | None = None,
) -> tuple[Starlette, ServeState]:
    """The app of `create_app` and its shared state (which a server needs to end event streams)."""
    metrics = Metrics()
    worker = Worker(flock, drive)
    flock.events.subscribe(metrics.observe)
    flock.events.subscribe(worker.observe)
    state = ServeState(flock, auth, max_body_bytes, metrics, worker)
    endpoint = _mcp_endpoint(state) if mcp else None

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncGenerator[None]:
        async with anyio.create_task_group() as group, AsyncExitStack() as stack:
            if endpoint is not None:
                await stack.enter_async_context(endpoint.run())
            group.start_soon(worker.run)
            yield
            group.cancel_scope.cancel()

    routes = [
        *artifact_routes(state),
        *conversation_routes(state),
        *agent_routes(state),
        *control_routes(state),
        *approval_routes(state),
        *event_routes(state),
        *dead_letter_routes(state),
        *_service_routes(state, dashboard),
    ]
    if endpoint is not None:
        routes.append(Route("/mcp", endpoint, methods=["GET", "POST", "DELETE"], name="mcp"))
    if allowed_hosts is None and auth is None:
        allowed_hosts = LOOPBACK_HOSTS
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[
            Middleware(Guard, allowed_hosts=allowed_hosts),
            Middleware(TraceContextMiddleware, tracer=lambda: flock.tracer, routes=lambda: routes),
        ],
        exception_handlers={ApiError: _api_error, HTTPException: _http_error},
    )
    return app, state


def create_app(
    flock: Flock,
    *,
    auth: Auth = None,
    max_body_bytes: int = 1_000_000,
    dashboard: bool = True,
    drive: DriveMode = "api",
    mcp: bool = False,
    allowed_hosts: Collection[str] | None = None,
) -> Starlette:
    """The ASGI application that serves `flock` over HTTP.

    Args:
        flock: the Flock to serve.
        auth: `None` (every caller is the anonymous public identity), `ApiKeys({...})`, or a function
            `(request) -> AgentIdentity | None` (sync or async; `None` answers 401).
        max_body_bytes: larger request bodies are refused with 413.
        dashboard: serve the dashboard at `/`.
        drive: how the Flock's work is run while the app's lifespan runs (see `DriveMode`); without a
            lifespan (for example under `httpx.ASGITransport`) nothing runs it but your own code.
        mcp: also serve the Flock as an MCP server (streamable HTTP) at `/mcp`, with the same `auth`
            (needs the `mcp` extra; the MCP transport runs in the app's lifespan).
        allowed_hosts: the host names the app answers to (`Host` header; an `Origin` header must name one
            too). Default: with `auth=None`, only `localhost`, `127.0.0.1` and `::1` (an open server must
            not be reachable by DNS rebinding or from other sites' pages); with auth, any.
    """
    app, _ = build_app(
        flock,
        auth=auth,
        max_body_bytes=max_body_bytes,
        dashboard=dashboard,
        drive=drive,
        mcp=mcp,
        allowed_hosts=allowed_hosts,
    )
    return app
