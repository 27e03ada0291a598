"""Serving a Flock over HTTP: a JSON API, a Server-Sent Events stream, Prometheus metrics and a dashboard.

Needs the `serve` extra (`pip install "flockboard[serve]"`: Starlette and uvicorn). See docs/serving.md.

May import: `flock_core.orchestration` and the layers below it, `flock_core.mcp` and `flock_core.observe`.
The `Flock` facade starts it (`Flock.serve`); it never imports the facade.
"""

from ._app import create_app
from ._auth import ANONYMOUS, ApiKeys, Auth, Authenticator
from ._server import ServerHandle, is_loopback, serve, serve_mcp_stdio, start_server
from ._stream import EventFilter
from ._worker import DriveMode, drive_lock

__all__ = [
    "ANONYMOUS",
    "ApiKeys",
    "Auth",
    "Authenticator",
    "DriveMode",
    "EventFilter",
    "ServerHandle",
    "create_app",
    "drive_lock",
    "is_loopback",
    "serve",
    "serve_mcp_stdio",
    "start_server",
]
