"""What every route of one served app shares: the Flock, the auth hook, limits, metrics and the worker."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from anyio.streams.memory import MemoryObjectSendStream
from starlette.requests import Request

from ..blackboard._artifacts import Artifact
from ..blackboard._visibility import AgentIdentity, is_visible
from ..orchestration._events import FlockEvent
from ._auth import Auth, authenticate
from ._http import ApiError
from ._metrics import Metrics
from ._worker import Worker

if TYPE_CHECKING:
    from .._flock import Flock

__all__ = ["ServeState"]


@dataclass(frozen=True, slots=True)
class ServeState:
    """The shared state of one app made by `create_app`."""

    flock: Flock
    auth: Auth
    max_body_bytes: int
    metrics: Metrics
    worker: Worker
    streams: set[MemoryObjectSendStream[FlockEvent]] = field(default_factory=set[MemoryObjectSendStream[FlockEvent]])

    def close_streams(self) -> None:
        """End every open event stream (before a shutdown, which waits for responses to finish)."""
        for stream in tuple(self.streams):
            stream.close()

    async def identity(self, request: Request) -> AgentIdentity:
        """The caller's identity; 401 when credentials are missing or invalid."""
        identity = await authenticate(request, self.auth)
        if identity is None:
            raise ApiError(401, "unauthorized", "missing or invalid credentials (Authorization: Bearer or X-API-Key)")
        return identity

    def can_see(self, artifact: Artifact, identity: AgentIdentity) -> bool:
        """Whether `identity` may see `artifact` now (fails closed)."""
        now = self.flock.clock.now()
        return is_visible(artifact.visibility, identity, created_at=artifact.created_at, now=now)
