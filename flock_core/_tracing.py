"""OpenTelemetry instrumentation: API only. Exporters are configured by the user or `flock_core.tracing`.

Span names and attributes follow the OpenTelemetry GenAI semantic conventions, version 1.44.0 (status:
development): `invoke_agent {agent}` (INTERNAL) per activation, `chat {model}` (CLIENT) per model call,
`execute_tool {tool}` per tool call. Framework-specific facts use the `flock.` prefix.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Final, Literal

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    NoOpTracerProvider,
    ProxyTracerProvider,
    Span,
    SpanKind,
    Status,
    StatusCode,
    Tracer,
    TracerProvider,
)
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from ._version import __version__

if TYPE_CHECKING:
    from .blackboard._artifacts import Artifact

__all__ = [
    "SEMCONV_VERSION",
    "Attr",
    "FlockTracer",
    "WorkflowOperation",
    "active_tracer",
    "context_of",
    "current_trace_id",
    "inject_current",
    "record_failure",
    "record_outputs",
]

SEMCONV_VERSION: Final = "1.44.0"
_active: ContextVar[Tracer | None] = ContextVar("flock_active_tracer", default=None)


def active_tracer() -> Tracer:
    """The tracer of the activation running in this task (so engines' spans reach the Flock's provider)."""
    return _active.get() or trace.get_tracer("flock_core", __version__)


_propagator = TraceContextTextMapPropagator()


class Attr:
    """Attribute names used on spans (GenAI semantic conventions plus `flock.*`)."""

    OPERATION: Final = "gen_ai.operation.name"
    AGENT_NAME: Final = "gen_ai.agent.name"
    CONVERSATION: Final = "gen_ai.conversation.id"
    PROVIDER: Final = "gen_ai.provider.name"
    REQUEST_MODEL: Final = "gen_ai.request.model"
    RESPONSE_ID: Final = "gen_ai.response.id"
    INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
    OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
    TOOL_NAME: Final = "gen_ai.tool.name"
    ERROR_TYPE: Final = "error.type"
    ARTIFACT_ID: Final = "flock.artifact.id"
    ARTIFACT_TYPE: Final = "flock.artifact.type"
    INPUT_IDS: Final = "flock.input.ids"
    INPUT_TYPES: Final = "flock.input.types"
    OUTPUT_IDS: Final = "flock.output.ids"
    OUTPUT_TYPES: Final = "flock.output.types"
    WORK_KEY: Final = "flock.work.key"
    ATTEMPT: Final = "flock.work.attempt"
    TICK: Final = "flock.tick"
    CANCEL_REASON: Final = "flock.cancel.reason"
    CANCELLED_WORK: Final = "flock.cancel.work_items"


WorkflowOperation = Literal["cancel_workflow", "pause_workflow", "resume_workflow"]


def context_of(artifact: Artifact) -> trace.SpanContext | None:
    """The span context that produced `artifact`, from its W3C trace context."""
    if not artifact.trace_context:
        return None
    span = trace.get_current_span(_propagator.extract(artifact.trace_context))
    context = span.get_span_context()
    return context if context.is_valid else None


def inject_current() -> dict[str, str]:
    """The current span's W3C trace context, to store on an artifact."""
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    return carrier


def current_trace_id() -> str | None:
    """The current trace id as 32 hex digits, or `None` outside a recorded span."""
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


class FlockTracer:
    """Creates the framework's spans from a tracer provider (the global one unless given).

    While no provider is configured (OpenTelemetry's default), spans record nothing: then the tracer skips
    building their attributes and links, and only keeps the trace context current as a no-op tracer does.
    """

    def __init__(self, provider: TracerProvider | None = None) -> None:
        self._provider = provider
        self._tracer: Tracer = trace.get_tracer("flock_core", __version__, tracer_provider=provider)

    @property
    def enabled(self) -> bool:
        """Whether a tracer provider is configured (the Flock's, else a global one set at any time)."""
        provider = self._provider
        if provider is None or isinstance(provider, ProxyTracerProvider):
            provider = trace.get_tracer_provider()
        return not isinstance(provider, ProxyTracerProvider | NoOpTracerProvider)

    @property
    def tracer(self) -> Tracer:
        """The underlying OpenTelemetry tracer (engines use it for `chat` and `execute_tool` spans)."""
        return self._tracer

    @contextmanager
    def publish(self, correlation_id: str | None) -> Generator[Span]:
        """A span around an external publish; artifacts created inside carry its context."""
        if not self.enabled:
            with _unrecorded(None) as span:
                yield span
            return
        attributes = {Attr.CONVERSATION: correlation_id} if correlation_id else {}
        with self._tracer.start_as_current_span("publish", kind=SpanKind.PRODUCER, attributes=attributes) as span:
            yield span

    @contextmanager
    def control(
        self, operation: WorkflowOperation, correlation_id: str | None, attributes: Mapping[str, str] | None = None
    ) -> Generator[Span]:
        """`cancel_workflow`, `pause_workflow` or `resume_workflow` (a `None` workflow: every workflow)."""
        if not self.enabled:
            with _unrecorded(None) as span:
                yield span
            return
        base = {Attr.CONVERSATION: correlation_id} if correlation_id is not None else {}
        with self._tracer.start_as_current_span(operation, attributes={**base, **(attributes or {})}) as span:
            yield span

    @contextmanager
    def activation(
        self, agent: str, correlation_id: str, inputs: Sequence[Artifact], attributes: Mapping[str, str | int]
    ) -> Generator[Span]:
        """`invoke_agent {agent}`: a child of its first input's producer, linked to every input's producer."""
        if not self.enabled:
            first = next((c for c in map(context_of, inputs) if c is not None), None)
            with _unrecorded(first) as span:
                token = _active.set(self._tracer)
                try:
                    yield span
                finally:
                    _active.reset(token)
            return
        contexts = [c for c in (context_of(a) for a in inputs) if c is not None]
        parent = trace.set_span_in_context(trace.NonRecordingSpan(contexts[0])) if contexts else None
        links = [
            Link(c, {Attr.ARTIFACT_ID: str(a.id)}) for a, c in zip(inputs, map(context_of, inputs), strict=True) if c
        ]
        base: dict[str, str | int | list[str]] = {
            Attr.OPERATION: "invoke_agent",
            Attr.AGENT_NAME: agent,
            Attr.CONVERSATION: correlation_id,
            Attr.INPUT_IDS: [str(a.id) for a in inputs],
            Attr.INPUT_TYPES: [a.type for a in inputs],
        }
        base.update(attributes)
        with self._tracer.start_as_current_span(
            f"invoke_agent {agent}",
            context=parent,
            kind=SpanKind.INTERNAL,
            links=links,
            attributes=base,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            token = _active.set(self._tracer)
            try:
                yield span
            finally:
                _active.reset(token)


@contextmanager
def _unrecorded(parent: trace.SpanContext | None) -> Generator[Span]:
    """What a no-op tracer's span does: the parent's context (or the current one) becomes current."""
    current = trace.get_current_span() if parent is None else NonRecordingSpan(parent)
    span = current if isinstance(current, NonRecordingSpan) else NonRecordingSpan(current.get_span_context())
    token = otel_context.attach(trace.set_span_in_context(span))
    try:
        yield span
    finally:
        otel_context.detach(token)


def record_outputs(span: Span, outputs: Sequence[Artifact], input_tokens: int, output_tokens: int) -> None:
    """Attach the published artifacts and token usage to an activation span (if it is recorded)."""
    if not span.is_recording():
        return
    span.set_attribute(Attr.OUTPUT_IDS, [str(a.id) for a in outputs])
    span.set_attribute(Attr.OUTPUT_TYPES, [a.type for a in outputs])
    span.set_attribute(Attr.INPUT_TOKENS, input_tokens)
    span.set_attribute(Attr.OUTPUT_TOKENS, output_tokens)


def record_failure(span: Span, error: BaseException) -> None:
    """Mark an activation span as failed with the error's type and message."""
    span.set_attribute(Attr.ERROR_TYPE, type(error).__name__)
    span.record_exception(error)
    span.set_status(Status(StatusCode.ERROR, str(error)))
