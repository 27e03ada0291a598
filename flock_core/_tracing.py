"""OpenTelemetry instrumentation: API only. Exporters are configured by the user or `flock_core.tracing`.

Span names and attributes follow the OpenTelemetry GenAI semantic conventions, version 1.44.0 (status:
development): `invoke_workflow {type}` (INTERNAL) per workflow, `invoke_agent {agent}` (INTERNAL) per
activation, `chat {model}` (CLIENT) per model call, `execute_tool {tool}` per tool call. Activations are
children of their workflow's span and link to the spans that produced their inputs. Framework-specific facts
use the `flock.` prefix; spans the GenAI conventions do not type (workflow, publish) also carry
`openinference.span.kind`, so OpenInference dashboards (Phoenix) show them as CHAIN rather than UNKNOWN.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal

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
from opentelemetry.util.types import AttributeValue

from ._trace_content import (
    INPUT_VALUE,
    MIME_JSON,
    OUTPUT_VALUE,
    content_enabled,
    content_json,
    error_attributes,
    error_description,
    reads_public,
)
from ._version import __version__

if TYPE_CHECKING:
    from .blackboard._artifacts import Artifact

__all__ = [
    "SEMCONV_VERSION",
    "WORKFLOW_KEY",
    "Attr",
    "FlockTracer",
    "WorkflowOperation",
    "active_tracer",
    "captures_messages",
    "context_of",
    "current_trace_id",
    "inject_current",
    "quiet_span",
    "record_failure",
    "record_outputs",
    "workflow_of",
]

SEMCONV_VERSION: Final = "1.44.0"
WORKFLOW_KEY: Final = "flock-workflow"
"""The key, in an artifact's trace context, of its workflow span (a W3C `traceparent` value)."""

_active: ContextVar[Tracer | None] = ContextVar("flock_active_tracer", default=None)
_WORKFLOW: Final = otel_context.create_key("flock-workflow")
_CAPTURE: Final = otel_context.create_key("flock-capture-content")
_propagator = TraceContextTextMapPropagator()


_NOT_KEPT: Final[Any] = object()
"""What `FlockTracer.enabled` reads if OpenTelemetry keeps no global provider where it looks (see there)."""


def active_tracer() -> Tracer:
    """The tracer of the activation running in this task (so engines' spans reach the Flock's provider)."""
    return _active.get() or trace.get_tracer("flock_core", __version__)


def captures_messages() -> bool:
    """Whether an engine may record model prompts and completions on the spans it opens now.

    Only with content capture switched on (`Flock(trace_content=True)` or the GenAI environment switch),
    and only inside an activation that read nothing but public artifacts: a prompt quotes what was read.
    """
    return otel_context.get_value(_CAPTURE) is True and reads_public()


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
    SPAN_KIND: Final = "openinference.span.kind"
    INPUT_VALUE: Final = INPUT_VALUE
    INPUT_MIME_TYPE: Final = "input.mime_type"
    OUTPUT_VALUE: Final = OUTPUT_VALUE
    OUTPUT_MIME_TYPE: Final = "output.mime_type"
    ARTIFACT_ID: Final = "flock.artifact.id"
    ARTIFACT_TYPE: Final = "flock.artifact.type"
    INPUT_IDS: Final = "flock.input.ids"
    INPUT_TYPES: Final = "flock.input.types"
    OUTPUT_IDS: Final = "flock.output.ids"
    OUTPUT_TYPES: Final = "flock.output.types"
    FAILED_ACTIVATIONS: Final = "flock.failed_activations"
    WORK_KEY: Final = "flock.work.key"
    ATTEMPT: Final = "flock.work.attempt"
    RETRY_AT: Final = "flock.work.retry_at"
    TICK: Final = "flock.tick"
    WORKFLOW: Final = "flock.workflow.name"
    CANCEL_REASON: Final = "flock.cancel.reason"
    CANCELLED_WORK: Final = "flock.cancel.work_items"
    APPROVAL_ID: Final = "flock.approval.id"
    APPROVER: Final = "flock.approval.approver"
    APPROVAL_OUTCOME: Final = "flock.approval.outcome"
    APPROVAL_REASON: Final = "flock.approval.reason"
    USAGE_CALLS: Final = "flock.usage.calls"
    USAGE_COST: Final = "flock.usage.cost"
    BUDGET_REMAINING: Final = "flock.budget.remaining"


WorkflowOperation = Literal["cancel_workflow", "pause_workflow", "resume_workflow", "decide_approval"]


@dataclass(eq=False, slots=True)
class _Workflow:
    """A workflow's span: open in this process (`span` set), or known only by its context (from an artifact)."""

    context: trace.SpanContext
    span: Span | None = None
    named: bool = False
    inputs: list[Artifact] = field(default_factory=list["Artifact"])  # kept only while capturing content
    failures: list[tuple[str, str]] = field(default_factory=list[tuple[str, str]])  # (error type, description)


def _traceparent(context: trace.SpanContext) -> str:
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"


def _extract(traceparent: str | None) -> trace.SpanContext | None:
    if not traceparent:
        return None
    context = trace.get_current_span(_propagator.extract({"traceparent": traceparent})).get_span_context()
    return context if context.is_valid else None


def context_of(artifact: Artifact) -> trace.SpanContext | None:
    """The span context that produced `artifact`, from its W3C trace context."""
    return _extract(artifact.trace_context.get("traceparent"))


def workflow_of(artifact: Artifact) -> trace.SpanContext | None:
    """The span context of the workflow `artifact` belongs to, if it was traced."""
    return _extract(artifact.trace_context.get(WORKFLOW_KEY))


def inject_current() -> dict[str, str]:
    """The current span's W3C trace context, and its workflow span's, to store on an artifact."""
    carrier: dict[str, str] = {}
    context = otel_context.get_current()
    if not context or not trace.get_current_span(context).get_span_context().is_valid:  # nothing traced
        return carrier
    _propagator.inject(carrier)
    workflow = otel_context.get_value(_WORKFLOW)
    if carrier and isinstance(workflow, _Workflow):
        carrier[WORKFLOW_KEY] = _traceparent(workflow.context)
    return carrier


def current_trace_id() -> str | None:
    """The current trace id as 32 hex digits, or `None` outside a recorded span."""
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


def _set_content(span: Span, key: str, artifacts: Sequence[Artifact]) -> None:
    """`input.value` or `output.value` (with its MIME type): the artifacts as JSON."""
    mime = Attr.INPUT_MIME_TYPE if key == INPUT_VALUE else Attr.OUTPUT_MIME_TYPE
    span.set_attributes({key: content_json(artifacts), mime: MIME_JSON})


def _scope(workflow: _Workflow | None, capture: bool, context: otel_context.Context) -> otel_context.Context:
    """`context` with the workflow (for outputs' trace context and failures) and the content switch."""
    return otel_context.set_value(_CAPTURE, capture, otel_context.set_value(_WORKFLOW, workflow, context))


def _inherited(inputs: Sequence[Artifact]) -> _Workflow | None:
    """The workflow of the first input that names one (its span lives elsewhere or has ended)."""
    context = next((c for c in map(workflow_of, inputs) if c is not None), None)
    return None if context is None else _Workflow(context)


class FlockTracer:
    """Creates the framework's spans from a tracer provider (the global one unless given).

    A workflow (a correlation id) gets an `invoke_workflow` span when this process first publishes into it;
    its publishes and activations are its children, and it ends when the workflow has nothing left to do
    here (`settle`). While no provider is configured (OpenTelemetry's default), spans record nothing: then
    the tracer skips building their attributes and links, and only keeps the trace context current as a
    no-op tracer does.
    """

    def __init__(self, provider: TracerProvider | None = None, *, capture_content: bool | None = None) -> None:
        self._provider = provider
        self._tracer: Tracer = trace.get_tracer("flock_core", __version__, tracer_provider=provider)
        self.captures_content = content_enabled(capture_content)
        self._workflows: dict[str, _Workflow] = {}
        self._enabled = False

    @property
    def enabled(self) -> bool:
        """Whether a tracer provider is configured (the Flock's, else a global one set at any time).

        Once true it stays true: OpenTelemetry sets the global provider only once.

        It reads OpenTelemetry's module global rather than asking `trace.get_tracer_provider()`: while no
        provider is set (the default), that looks up `OTEL_PYTHON_TRACER_PROVIDER` in `os.environ` on
        every call (a Python mapping lookup that raises and catches a `KeyError`, 5% of an untraced
        publish). The variable is honoured when the tracer is created: `trace.get_tracer`, called then,
        loads the provider it names. An OpenTelemetry without that global is asked the public way.
        """
        if self._enabled:
            return True
        provider = self._provider
        if provider is None or isinstance(provider, ProxyTracerProvider):
            provider = getattr(trace, "_TRACER_PROVIDER", _NOT_KEPT)  # OpenTelemetry's own: see above
            if provider is _NOT_KEPT:
                provider = trace.get_tracer_provider()
        if provider is None:  # the common case, answered before `isinstance` asks the providers' ABC
            return False
        self._enabled = not isinstance(provider, (ProxyTracerProvider, NoOpTracerProvider))
        return self._enabled

    @property
    def tracer(self) -> Tracer:
        """The underlying OpenTelemetry tracer (engines use it for `chat` and `execute_tool` spans)."""
        return self._tracer

    @property
    def open_workflows(self) -> tuple[str, ...]:
        """The correlation ids whose workflow span is open in this process."""
        return tuple(self._workflows)

    def publish(self, correlation_id: str) -> AbstractContextManager[Span]:
        """A `publish` span inside its workflow's span; artifacts created inside carry both contexts."""
        if not self.enabled:
            context = otel_context.get_current()  # read once: the checks below look up three keys in it
            if not context:  # nothing attached at all (the common case): no span, no workflow, no capture
                return _NOTHING_TRACED
            if _plain(current := trace.get_current_span(context), context):
                return _Untraced(current, None)
        return self._publish(correlation_id)

    @contextmanager
    def _publish(self, correlation_id: str) -> Generator[Span]:
        if not self.enabled:
            with _unrecorded(None, None) as span:
                yield span
            return
        workflow = self._workflows.get(correlation_id)
        if workflow is None:
            attributes = {Attr.OPERATION: "invoke_workflow", Attr.CONVERSATION: correlation_id, Attr.SPAN_KIND: "CHAIN"}
            root = self._tracer.start_span("invoke_workflow", kind=SpanKind.INTERNAL, attributes=attributes)
            workflow = self._workflows[correlation_id] = _Workflow(root.get_span_context(), root)
        root = workflow.span or NonRecordingSpan(workflow.context)
        token = otel_context.attach(_scope(workflow, self.captures_content, trace.set_span_in_context(root)))
        try:
            attributes = {Attr.CONVERSATION: correlation_id, Attr.SPAN_KIND: "CHAIN"}
            with quiet_span(self._tracer, "publish", kind=SpanKind.PRODUCER, attributes=attributes) as span:
                yield span
        finally:
            otel_context.detach(token)

    def published(self, span: Span, artifact: Artifact) -> None:
        """Name the publish span (and a workflow span it opened) after `artifact`; record its content if asked."""
        if not span.is_recording():
            return
        span.update_name(f"publish {artifact.type}")
        span.set_attributes({Attr.ARTIFACT_TYPE: artifact.type, Attr.ARTIFACT_ID: str(artifact.id)})
        workflow = otel_context.get_value(_WORKFLOW)
        if not isinstance(workflow, _Workflow) or workflow.span is None:
            return
        if not workflow.named:
            workflow.span.update_name(f"invoke_workflow {artifact.type}")
            workflow.named = True
        if self.captures_content:
            workflow.inputs.append(artifact)
            _set_content(span, INPUT_VALUE, [artifact])
            _set_content(workflow.span, INPUT_VALUE, workflow.inputs)

    @contextmanager
    def workflow(self, name: str) -> Generator[Span]:
        """A span grouping everything done inside it (Flock's `traced_run`): one trace for the whole run."""
        if not self.enabled:
            with _unrecorded(None, None) as span:
                yield span
            return
        with quiet_span(self._tracer, name, kind=SpanKind.INTERNAL, attributes={Attr.WORKFLOW: name}) as span:
            yield span

    @contextmanager
    def control(
        self, operation: WorkflowOperation, correlation_id: str | None, attributes: Mapping[str, str] | None = None
    ) -> Generator[Span]:
        """`cancel_workflow`, `pause_workflow`, `resume_workflow` (a `None` workflow: every workflow) or
        `decide_approval`."""
        if not self.enabled:
            with _unrecorded(None, None) as span:
                yield span
            return
        base = {Attr.CONVERSATION: correlation_id} if correlation_id is not None else {}
        with quiet_span(self._tracer, operation, attributes={**base, **(attributes or {})}) as span:
            yield span

    def activation(
        self, agent: str, correlation_id: str, inputs: Sequence[Artifact], attributes: Mapping[str, str | int]
    ) -> AbstractContextManager[Span]:
        """`invoke_agent {agent}`: a child of its workflow's span, linked to every input's producer.

        Inputs from no traced workflow (a timer's activation, artifacts stored before tracing was on): the
        activation is a child of its first input's producer, and is the workflow span of its own outputs.
        """
        if not self.enabled and correlation_id not in self._workflows and not _carry_trace(inputs):
            context = otel_context.get_current()
            if not context:  # nothing attached at all (the common case): no span, no workflow, no capture
                # With no provider of its own, its tracer is the global one, which `active_tracer` falls
                # back to: nothing to make active either.
                return _NOTHING_TRACED if self._provider is None else _Untraced(trace.INVALID_SPAN, self._tracer)
            if _plain(current := trace.get_current_span(context), context):
                return _Untraced(current, self._tracer)
        return self._activation(agent, correlation_id, inputs, attributes)

    @contextmanager
    def _activation(
        self, agent: str, correlation_id: str, inputs: Sequence[Artifact], attributes: Mapping[str, str | int]
    ) -> Generator[Span]:
        workflow = self._workflows.get(correlation_id) or _inherited(inputs)
        producers = [context_of(a) for a in inputs]
        first = next((c for c in producers if c is not None), None)
        if not self.enabled:
            with _unrecorded(first, workflow) as span, _tracer_active(self._tracer):
                yield span
            return
        if workflow is not None:
            parent = trace.set_span_in_context(workflow.span or NonRecordingSpan(workflow.context))
        else:
            parent = trace.set_span_in_context(NonRecordingSpan(first)) if first else otel_context.get_current()
        links = [Link(c, {Attr.ARTIFACT_ID: str(a.id)}) for a, c in zip(inputs, producers, strict=True) if c]
        base: dict[str, str | int | list[str]] = {
            Attr.OPERATION: "invoke_agent",
            Attr.AGENT_NAME: agent,
            Attr.CONVERSATION: correlation_id,
            Attr.INPUT_IDS: [str(a.id) for a in inputs],
            Attr.INPUT_TYPES: [a.type for a in inputs],
        }
        base.update(attributes)
        if self.captures_content:
            base.update({Attr.INPUT_VALUE: content_json(inputs), Attr.INPUT_MIME_TYPE: MIME_JSON})
        span = self._tracer.start_span(
            f"invoke_agent {agent}", context=parent, kind=SpanKind.INTERNAL, links=links, attributes=base
        )
        scope = workflow or _Workflow(span.get_span_context())
        token = otel_context.attach(_scope(scope, self.captures_content, trace.set_span_in_context(span, parent)))
        try:
            with _tracer_active(self._tracer):
                yield span
        finally:
            otel_context.detach(token)
            span.end()

    def settle(self, busy: Callable[[str], bool] | None = None) -> None:
        """End the spans of open workflows with nothing left to do here (all of them when `busy` is not given)."""
        for correlation_id in [c for c in self._workflows if busy is None or not busy(c)]:
            _end(self._workflows.pop(correlation_id))


def _end(workflow: _Workflow) -> None:
    """End a workflow span: in error when an activation (or a circuit breaker) failed inside it."""
    span = workflow.span
    if span is None:
        return
    if workflow.failures:
        count = len(workflow.failures)
        error_type, description = workflow.failures[0]
        span.set_attribute(Attr.FAILED_ACTIVATIONS, count)
        span.set_attribute(Attr.ERROR_TYPE, error_type)
        plural = "activation" if count == 1 else "activations"
        span.set_status(Status(StatusCode.ERROR, f"{count} failed {plural}; first: {description}"))
    span.end()


class _Untraced:
    """A span with nothing to record or propagate: the current one stays current (and `tracer` active).

    What `_unrecorded` does when the context already is what it would make, without its context switches.
    """

    __slots__ = ("_span", "_token", "_tracer")

    def __init__(self, span: Span, tracer: Tracer | None) -> None:
        self._span = span
        self._tracer = tracer
        self._token: Token[Tracer | None] | None = None

    def __enter__(self) -> Span:
        if self._tracer is not None:
            self._token = _active.set(self._tracer)
        return self._span

    def __exit__(self, *exc_info: object) -> None:
        if self._token is not None:
            _active.reset(self._token)


def _carry_trace(inputs: Sequence[Artifact]) -> bool:
    """Whether any of `inputs` carries a trace context (most activations have one input)."""
    if len(inputs) == 1:
        return bool(inputs[0].trace_context)
    return any([a.trace_context for a in inputs])  # a list: a generator costs more than an input or two


_NOTHING_TRACED = _Untraced(trace.INVALID_SPAN, None)
"""The `_Untraced` of an empty context, shared: without a tracer it keeps no state between uses."""


@contextmanager
def _tracer_active(tracer: Tracer) -> Generator[None]:
    token = _active.set(tracer)
    try:
        yield
    finally:
        _active.reset(token)


@contextmanager
def _unrecorded(parent: trace.SpanContext | None, workflow: _Workflow | None) -> Generator[Span]:
    """What a no-op tracer's span does: the parent's context (or the current one) becomes current."""
    current = trace.get_current_span() if parent is None else NonRecordingSpan(parent)
    if parent is None and workflow is None and _plain(current):  # the context already says all of that
        yield current
        return
    span = current if isinstance(current, NonRecordingSpan) else NonRecordingSpan(current.get_span_context())
    token = otel_context.attach(_scope(workflow, False, trace.set_span_in_context(span)))
    try:
        yield span
    finally:
        otel_context.detach(token)


def _plain(current: Span, context: otel_context.Context | None = None) -> bool:
    """Whether the current context (or `context`) is what `_unrecorded` would make of it with no parent and
    no workflow."""
    return (
        isinstance(current, NonRecordingSpan)
        and otel_context.get_value(_WORKFLOW, context) is None
        and otel_context.get_value(_CAPTURE, context) is not True
    )


def record_outputs(span: Span, outputs: Sequence[Artifact], input_tokens: int, output_tokens: int) -> None:
    """Attach the published artifacts and token usage to an activation span (if it is recorded).

    With content capture on, the outputs are also the span's `output.value`, and its workflow span's (so a
    workflow shows the outputs of its last activation).
    """
    if not span.is_recording():
        return
    span.set_attribute(Attr.OUTPUT_IDS, [str(a.id) for a in outputs])
    span.set_attribute(Attr.OUTPUT_TYPES, [a.type for a in outputs])
    span.set_attribute(Attr.INPUT_TOKENS, input_tokens)
    span.set_attribute(Attr.OUTPUT_TOKENS, output_tokens)
    if otel_context.get_value(_CAPTURE) is True:
        _set_content(span, OUTPUT_VALUE, outputs)
        workflow = otel_context.get_value(_WORKFLOW)
        if isinstance(workflow, _Workflow) and workflow.span is not None and workflow.span.is_recording():
            _set_content(workflow.span, OUTPUT_VALUE, outputs)


@contextmanager
def quiet_span(
    tracer: Tracer,
    name: str,
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    attributes: Mapping[str, AttributeValue] | None = None,
    context: otel_context.Context | None = None,
) -> Generator[Span]:
    """A current span that records an escaping exception by its type only: its message may quote a payload.

    (OpenTelemetry's own recording would put the message and traceback text on the span.)
    """
    with tracer.start_as_current_span(
        name, context, kind, attributes, record_exception=False, set_status_on_exception=False
    ) as span:
        try:
            yield span
        except Exception as exc:
            if span.is_recording():
                span.set_attribute(Attr.ERROR_TYPE, type(exc).__name__)
                span.set_status(Status(StatusCode.ERROR, error_description(exc, disclose=False)))
            raise


def record_failure(span: Span, error: BaseException, *, agent: str | None = None, disclose: bool = False) -> None:
    """Mark an activation span as failed with the error's type, and its workflow span with it.

    The error's message is recorded only with `disclose` (the activation read only public artifacts, or the
    framework wrote the message): an engine's error may quote what the activation read.
    """
    described = error_description(error, disclose)
    span.set_attribute(Attr.ERROR_TYPE, type(error).__name__)
    span.record_exception(error, attributes=error_attributes(error, disclose))
    span.set_status(Status(StatusCode.ERROR, str(error) if disclose else described))
    workflow = otel_context.get_value(_WORKFLOW)
    if isinstance(workflow, _Workflow) and workflow.span is not None:
        where = f"agent {agent}: " if agent else ""
        workflow.failures.append((type(error).__name__, f"{where}{described}"))
