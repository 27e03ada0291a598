"""`GET /api/v1/events`: run events as Server-Sent Events, filtered by what the caller may see.

`?tokens=true` adds the `token_streamed` events of the activations the caller may see (engines stream
only while some client or other subscriber asks for tokens). Every client has its own bounded buffer and
the run never waits for it: a token is queued only while the buffer is less than half full, any other
event while it is not full; what does not fit is dropped and counted, and the client gets a `lagged`
frame saying how many events (and how many of them tokens) it missed.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from uuid import UUID

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from ..blackboard._approvals import may_decide
from ..blackboard._visibility import AgentIdentity, Visibility, is_visible
from ..orchestration._approval import TIMEOUT
from ..orchestration._events import (
    ActivationFailed,
    ActivationFinished,
    ActivationStarted,
    ApprovalDecided,
    ApprovalRequested,
    ArtifactPublished,
    FlockEvent,
    OptimizationProgress,
    TokenStreamed,
)
from ._http import ApiError
from ._state import ServeState
from ._views import approval_view, event_view

__all__ = ["BUFFER", "HEARTBEAT_SECONDS", "TOKEN_BUFFER", "WITHHELD", "EventFilter", "event_routes"]

BUFFER = 1000
"""Events buffered per client; when a slow client falls further behind, events are dropped (see `lagged`)."""

TOKEN_BUFFER = BUFFER // 2
"""A token is buffered only while fewer events than this wait: tokens are dropped first, before other events."""

_TRUE, _FALSE = frozenset({"true", "1", "yes"}), frozenset({"false", "0", "no"})

HEARTBEAT_SECONDS = 15.0
"""A comment line is sent after this long without events, so proxies keep the connection open."""

WITHHELD = "message withheld: the activation read artifacts this caller may not see"
"""The message of a failed activation for a caller who may not see everything the activation read."""

_MAX_ADMITTED = 10_000


class EventFilter:
    """Decides which events one caller receives; everything not shown to be visible is withheld.

    - `artifact_published`: the artifact is visible to the caller now.
    - `activation_started`: the caller may see every input of the activation (a scheduled activation
      has none). Such a work item is *admitted*.
    - `activation_finished`, `activation_failed`, `token_streamed`: only for admitted work items;
      `output_ids` of a finished activation lists only the outputs the caller may see; the message of a
      failed one, and streamed tokens, only to a caller who may see everything the activation read (inputs
      and context).
    - `approval_requested`, `approval_decided`: only to a caller who may decide the request (one of its
      approvers who may see every held output: whoever `GET /api/v1/approvals` lists it for). The
      requested event carries the request (`approval`: the held outputs, deadline, ...); a decided event
      says `timed_out` when the request's timeout decided it. Others receive nothing about it.
    - `optimization_progress`: only for an optimization this stream saw start (`state="started"`), and
      only while every artifact of its runs (correlation ids starting with its `correlation_prefix`) was
      visible to the caller: its scores are computed from them. One hidden artifact, or events dropped
      for a slow client (`lagged`), withholds the rest of its progress.
    """

    def __init__(self, state: ServeState, identity: AgentIdentity) -> None:
        self._state = state
        self._identity = identity
        self._admitted: dict[str, bool] = {}
        self._optimizations: dict[str, bool] = {}

    def lagged(self) -> None:
        """Events were dropped: an artifact this filter did not check may hide an optimization's data."""
        for prefix in self._optimizations:
            self._optimizations[prefix] = False

    async def view(self, event: FlockEvent) -> dict[str, object] | None:
        """The JSON of `event` for this caller, or `None` when it must not be sent."""
        if isinstance(event, ArtifactPublished):
            return self._published(event)
        if isinstance(event, OptimizationProgress):
            return self._optimization(event)
        if isinstance(event, ActivationStarted):
            return event_view(event) if await self._admit(event) else None
        if isinstance(event, ActivationFinished | ActivationFailed):
            return await self._settle(event)
        if isinstance(event, ApprovalRequested | ApprovalDecided):
            return await self._approval(event)
        token = isinstance(event, TokenStreamed) and event.work_key in self._admitted and self._may_read(event.read)
        return event_view(event) if token else None  # any other event (cancel, pause) is not streamed

    def _published(self, event: ArtifactPublished) -> dict[str, object] | None:
        visible = self._state.can_see(event.artifact, self._identity)
        if not visible:
            self._hide_optimizations_of(event.artifact.correlation_id)
        return event_view(event) if visible else None

    async def _approval(self, event: ApprovalRequested | ApprovalDecided) -> dict[str, object] | None:
        """An approval event for a caller who may decide the request (the stored one: it fails closed)."""
        request = await self._state.flock.store.approval(event.approval_id)
        if request is None or not may_decide(self._identity, request, self._state.flock.clock.now()):
            return None
        data = event_view(event)
        if isinstance(event, ApprovalRequested):
            data["approval"] = approval_view(request)
        else:
            data["timed_out"] = event.by == TIMEOUT
        return data

    def _may_read(self, read: Visibility | None) -> bool:
        """Whether the caller may see everything an activation read (`None`, unknown: no)."""
        now = self._state.flock.clock.now()
        return read is not None and is_visible(read, self._identity, created_at=now, now=now)

    def _optimization(self, event: OptimizationProgress) -> dict[str, object] | None:
        prefix = event.correlation_prefix
        if prefix not in self._optimizations:
            if len(self._optimizations) >= _MAX_ADMITTED:
                self._optimizations.pop(next(iter(self._optimizations)))
            self._optimizations[prefix] = event.state == "started" and event.trials_done == 0
        return event_view(event) if self._optimizations[prefix] else None

    def _hide_optimizations_of(self, correlation_id: str) -> None:
        for prefix in self._optimizations:
            if correlation_id.startswith(prefix):
                self._optimizations[prefix] = False

    async def _settle(self, event: ActivationFinished | ActivationFailed) -> dict[str, object] | None:
        if self._admitted.pop(event.work_key, False) is False:
            return None
        if isinstance(event, ActivationFinished):
            return event_view(event, await self._visible_ids(event))
        if not self._may_read(event.read):
            event = dataclasses.replace(event, message=WITHHELD)  # it may quote context the caller may not see
        return event_view(event)

    async def _admit(self, event: ActivationStarted) -> bool:
        store, ids = self._state.flock.store, event.input_ids
        try:
            inputs = await store.get_many([UUID(i) for i in ids])
        except ValueError:
            return False
        if len(inputs) != len(ids) or not all(self._state.can_see(a, self._identity) for a in inputs):
            return False
        if len(self._admitted) >= _MAX_ADMITTED:
            self._admitted.pop(next(iter(self._admitted)))
        self._admitted[event.work_key] = True
        return True

    async def _visible_ids(self, event: ActivationFinished) -> tuple[str, ...]:
        outputs = await self._state.flock.store.get_many([UUID(i) for i in event.output_ids])
        return tuple(str(a.id) for a in outputs if self._state.can_see(a, self._identity))


def _frame(number: int, kind: str, data: object) -> str:
    return f"id: {number}\nevent: {kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


class _Subscription:
    """Queues the Flock's events for one client without ever blocking the run that emits them."""

    def __init__(self, buffer: int = BUFFER, token_buffer: int = TOKEN_BUFFER) -> None:
        self.send: MemoryObjectSendStream[FlockEvent]
        self.receive: MemoryObjectReceiveStream[FlockEvent]
        self.send, self.receive = anyio.create_memory_object_stream[FlockEvent](buffer)
        self._token_buffer = token_buffer
        self.dropped = 0
        self.dropped_tokens = 0

    def offer(self, event: FlockEvent) -> None:
        """Queue `event`, or count it as dropped (tokens once the buffer is half full, others once it is full)."""
        try:
            if isinstance(event, TokenStreamed) and self.send.statistics().current_buffer_used >= self._token_buffer:
                raise anyio.WouldBlock
            self.send.send_nowait(event)
        except anyio.WouldBlock:
            self.dropped += 1
            self.dropped_tokens += isinstance(event, TokenStreamed)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            pass

    def lagged(self) -> dict[str, object]:
        """The `lagged` frame's data, and a fresh count."""
        data: dict[str, object] = {"kind": "lagged", "dropped": self.dropped, "dropped_tokens": self.dropped_tokens}
        self.dropped = self.dropped_tokens = 0
        return data


async def _frames(
    state: ServeState, identity: AgentIdentity, max_events: int | None, tokens: bool
) -> AsyncIterator[str]:
    subscription = _Subscription()
    unsubscribe = state.flock.events.subscribe(subscription.offer, tokens=tokens)
    state.streams.add(subscription.send)
    state.metrics.stream_clients += 1
    events_filter, sent = EventFilter(state, identity), 0
    try:
        yield "retry: 3000\n: connected\n\n"
        while max_events is None or sent < max_events:
            event = None
            with anyio.move_on_after(HEARTBEAT_SECONDS):
                try:
                    event = await subscription.receive.receive()
                except anyio.EndOfStream:  # the server is shutting down
                    return
            if subscription.dropped:
                if subscription.dropped > subscription.dropped_tokens:  # more than tokens: artifacts went unchecked
                    events_filter.lagged()
                yield _frame(sent, "lagged", subscription.lagged())
            if event is None:
                yield ": keep-alive\n\n"
                continue
            data = await events_filter.view(event)
            if data is not None:
                sent += 1
                yield _frame(sent, event.kind, data)
    finally:
        unsubscribe()
        state.streams.discard(subscription.send)
        state.metrics.stream_clients -= 1
        subscription.send.close()
        subscription.receive.close()


def event_routes(state: ServeState) -> list[Route]:
    """The event stream route bound to `state`."""

    async def events(request: Request) -> Response:
        identity = await state.identity(request)
        raw = request.query_params.get("max_events")
        if raw is not None and not (raw.isdigit() and int(raw) > 0):
            raise ApiError(422, "invalid_query", "query parameter 'max_events' must be a positive integer")
        tokens = request.query_params.get("tokens", "false").lower()
        if tokens not in _TRUE | _FALSE:
            raise ApiError(422, "invalid_query", "query parameter 'tokens' must be true or false")
        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        stream = _frames(state, identity, None if raw is None else int(raw), tokens in _TRUE)
        return StreamingResponse(stream, media_type="text/event-stream", headers=headers)

    return [Route("/api/v1/events", events, methods=["GET"], name="stream_events")]
