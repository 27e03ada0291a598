"""Typed records read from a trace file: spans, their events and links, runs and per-operation statistics."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, cast

__all__ = [
    "AttributeValue",
    "Operation",
    "SpanEvent",
    "SpanLink",
    "SpanRecord",
    "SpanStats",
    "TraceInfo",
    "record_of",
]

AttributeValue = str | bool | int | float | tuple[str | bool | int | float, ...]
Operation = Literal["invoke_agent", "chat", "execute_tool"]
"""The GenAI operations the reports group by (`gen_ai.operation.name`)."""

_OPERATIONS: frozenset[str] = frozenset({"invoke_agent", "chat", "execute_tool"})


@dataclass(frozen=True, slots=True)
class SpanEvent:
    """A timed event recorded on a span (`exception`, `flock.contract_violation`, ...)."""

    name: str
    time_ns: int
    attributes: Mapping[str, AttributeValue]


@dataclass(frozen=True, slots=True)
class SpanLink:
    """A link from a span to another span (an activation links to the producers of its inputs)."""

    trace_id: str
    span_id: str
    attributes: Mapping[str, AttributeValue]


@dataclass(frozen=True, slots=True)
class SpanRecord:
    """One finished span as stored in the trace file.

    Attributes:
        trace_id: 32 lowercase hex digits.
        span_id: 16 lowercase hex digits.
        parent_id: the parent's span id (`None` for a root span; it may be in another trace file).
        kind: `INTERNAL`, `SERVER`, `CLIENT`, `PRODUCER` or `CONSUMER`.
        status: `UNSET`, `OK` or `ERROR`.
    """

    trace_id: str
    span_id: str
    parent_id: str | None
    name: str
    kind: str
    start_ns: int
    end_ns: int
    status: str
    status_message: str | None
    attributes: Mapping[str, AttributeValue]
    events: tuple[SpanEvent, ...]
    links: tuple[SpanLink, ...]
    service_name: str | None
    scope: str | None

    @property
    def duration_ms(self) -> float:
        """How long the span lasted, in milliseconds."""
        return (self.end_ns - self.start_ns) / 1e6

    @property
    def is_error(self) -> bool:
        """Whether the span ended with an error status."""
        return self.status == "ERROR"

    @property
    def operation(self) -> Operation | None:
        """The GenAI operation (from `gen_ai.operation.name`, else the span name), if it is one we report."""
        value = self.attributes.get("gen_ai.operation.name")
        candidate = value if isinstance(value, str) else self.name.partition(" ")[0]
        return cast(Operation, candidate) if candidate in _OPERATIONS else None

    @property
    def subject(self) -> str:
        """What the operation acted on: the agent, the model or the tool (else the span name)."""
        keys = {
            "invoke_agent": ("gen_ai.agent.name",),
            "chat": ("gen_ai.response.model", "gen_ai.request.model"),
            "execute_tool": ("gen_ai.tool.name",),
        }.get(self.operation or "", ())
        for key in keys:
            value = self.attributes.get(key)
            if isinstance(value, str) and value:
                return value
        operation, _, rest = self.name.partition(" ")
        return rest if operation == self.operation and rest else self.name

    @property
    def tokens(self) -> tuple[int, int] | None:
        """`(input, output)` token usage recorded on this span, if any."""
        source = self.attributes.get("gen_ai.usage.input_tokens")
        sink = self.attributes.get("gen_ai.usage.output_tokens")
        if source is None and sink is None:
            return None
        return _int(source), _int(sink)

    @property
    def error_type(self) -> str | None:
        """The `error.type` attribute, if the span recorded one."""
        value = self.attributes.get("error.type")
        return str(value) if value is not None else None

    @property
    def started_at(self) -> datetime:
        """The start time as an aware UTC datetime."""
        return datetime.fromtimestamp(self.start_ns / 1e9, UTC)


@dataclass(frozen=True, slots=True)
class TraceInfo:
    """One run: a trace, summarised for `flock trace list`.

    Attributes:
        root: the name of the earliest span without a parent in this trace.
        agents: agents activated in the trace, in order of first activation.
        input_tokens: tokens counted once per call (a span's usage is not added again from its descendants).
        errors: spans that ended with an error status (not the workflow span, which repeats its activations' errors).
        correlation_id: the workflow (`gen_ai.conversation.id`) of the root span, if recorded.
    """

    trace_id: str
    root: str
    started_at: datetime
    duration_ms: float
    span_count: int
    agents: tuple[str, ...]
    input_tokens: int
    output_tokens: int
    errors: int
    correlation_id: str | None

    @property
    def total_tokens(self) -> int:
        """Input plus output tokens."""
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True, slots=True)
class SpanStats:
    """Latency, token and error statistics of one agent, model or tool over many spans.

    Attributes:
        operation: `invoke_agent` (per agent), `chat` (per model) or `execute_tool` (per tool).
        name: the agent, model or tool.
        count: activations, model calls or tool calls.
        p50_ms: median duration (nearest rank).
        p95_ms: 95th percentile duration (nearest rank).
    """

    operation: Operation
    name: str
    count: int
    p50_ms: float
    p95_ms: float
    input_tokens: int
    output_tokens: int
    errors: int


def record_of(row: tuple[Any, ...]) -> SpanRecord:
    """A `SpanRecord` from one `spans` row (columns in `COLUMNS` order)."""
    (trace_id, span_id, parent_id, name, kind, start_ns, end_ns, status, message, attrs, events, links, *rest) = row
    service_name, scope = rest
    return SpanRecord(
        trace_id=trace_id,
        span_id=span_id,
        parent_id=parent_id,
        name=name,
        kind=kind,
        start_ns=int(start_ns),
        end_ns=int(end_ns),
        status=status,
        status_message=message,
        attributes=_attributes(json.loads(attrs)),
        events=tuple(SpanEvent(e["name"], int(e["time_ns"]), _attributes(e["attributes"])) for e in json.loads(events)),
        links=tuple(SpanLink(k["trace_id"], k["span_id"], _attributes(k["attributes"])) for k in json.loads(links)),
        service_name=service_name,
        scope=scope,
    )


def _attributes(raw: Mapping[str, Any]) -> dict[str, AttributeValue]:
    return {key: tuple(cast(list[Any], value)) if isinstance(value, list) else value for key, value in raw.items()}


def _int(value: AttributeValue | None) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
