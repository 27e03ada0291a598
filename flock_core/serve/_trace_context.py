"""Trace context over HTTP: each request continues its caller's W3C trace in a SERVER span.

An incoming `traceparent` (and `tracestate`) header is extracted and made the parent of a `{method} {route}`
SERVER span with the HTTP semantic-convention attributes (and `openinference.span.kind=CHAIN`, so
OpenInference dashboards such as Phoenix do not show the root of a request's trace as UNKNOWN); what the
request does (a publish, a direct agent run) happens inside that span, so it joins the caller's trace and
the artifacts carry its context. An exception escaping the app is recorded by its type only. While no
tracer provider is configured no span is recorded, but the caller's context is still made current, so
artifacts published by the request carry the caller's trace context onwards.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .._tracing import Attr, FlockTracer, quiet_span

__all__ = ["TraceContextMiddleware"]

_propagator = TraceContextTextMapPropagator()


def _route_of(routes: Sequence[BaseRoute], scope: Scope) -> str:
    """The route template a request matches (`/api/v1/artifacts/{artifact_id}`), low-cardinality for names."""
    for route in routes:
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return str(getattr(route, "path", scope["path"]))
    return "unmatched"


class TraceContextMiddleware:
    """ASGI middleware: a SERVER span per HTTP request, a child of the caller's `traceparent` when it sent one."""

    def __init__(
        self, app: ASGIApp, tracer: Callable[[], FlockTracer], routes: Callable[[], Sequence[BaseRoute]]
    ) -> None:
        self.app = app
        self._tracer = tracer
        self._routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        carrier = {
            key.decode("latin-1"): value.decode("latin-1")
            for key, value in scope["headers"]
            if key in (b"traceparent", b"tracestate")
        }
        flock_tracer = self._tracer()
        if not (flock_tracer.enabled or carrier or otel_context.get_current()):
            await self.app(scope, receive, send)  # no trace to continue, none to leave: the context stays empty
            return
        parent = _propagator.extract(carrier)
        if not flock_tracer.enabled:
            token = otel_context.attach(parent)
            try:
                await self.app(scope, receive, send)
            finally:
                otel_context.detach(token)
            return
        await self._traced(flock_tracer.tracer, parent, scope, receive, send)

    async def _traced(
        self, tracer: trace.Tracer, parent: otel_context.Context, scope: Scope, receive: Receive, send: Send
    ) -> None:
        method = str(scope["method"])
        route = _route_of(self._routes(), scope)
        attributes = {
            "http.request.method": method,
            "url.path": str(scope["path"]),
            "http.route": route,
            Attr.SPAN_KIND: "CHAIN",  # OpenInference dashboards (Phoenix) show an untyped span as UNKNOWN
        }
        if scope.get("server"):
            attributes["server.address"] = str(scope["server"][0])

        with quiet_span(
            tracer, f"{method} {route}", context=parent, kind=SpanKind.SERVER, attributes=attributes
        ) as span:

            async def send_with_status(message: Message) -> None:
                if message["type"] == "http.response.start":
                    status = int(message["status"])
                    span.set_attribute("http.response.status_code", status)
                    if status >= 500:
                        span.set_attribute("error.type", str(status))
                        span.set_status(Status(StatusCode.ERROR))
                await send(message)

            await self.app(scope, receive, send_with_status)
