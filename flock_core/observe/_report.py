"""Plain-text and JSON reports of a trace file, for `flock trace`: aligned tables and a span tree."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from ._records import Operation, SpanRecord, SpanStats, TraceInfo
from ._traces import summarise_trace

__all__ = ["render_spans", "render_stats", "render_traces", "table", "to_json"]

_SUBJECT: dict[Operation, tuple[str, str]] = {
    "invoke_agent": ("AGENT", "ACTIVATIONS"),
    "chat": ("MODEL", "CALLS"),
    "execute_tool": ("TOOL", "CALLS"),
}


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, right: frozenset[int] = frozenset()) -> str:
    """An aligned text table; columns in `right` are right-aligned (numbers). Trailing blanks are trimmed."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        padded = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))]
        return "  ".join(padded).rstrip()

    return "\n".join([line(headers), *(line(r) for r in rows)])


def render_traces(traces: Sequence[TraceInfo]) -> str:
    """`flock trace list`: one line per run, newest first."""
    if not traces:
        return "no traces"
    rows = [
        [
            t.trace_id,
            t.root,
            _clock(t.started_at),
            _ms(t.duration_ms),
            str(t.span_count),
            ", ".join(t.agents) or "-",
            str(t.total_tokens),
            str(t.errors),
        ]
        for t in traces
    ]
    headers = ["TRACE ID", "ROOT", "STARTED (UTC)", "DURATION (ms)", "SPANS", "AGENTS", "TOKENS", "ERRORS"]
    return table(headers, rows, right=frozenset({3, 4, 6, 7}))


def render_spans(spans: Sequence[SpanRecord]) -> str:
    """`flock trace show`: a header line, then the span tree with start offsets, durations, tokens and notes."""
    info = summarise_trace(spans)
    start = min(s.start_ns for s in spans)
    rows = [
        [
            prefix + span.name,
            _ms((span.start_ns - start) / 1e6),
            _ms(span.duration_ms),
            f"{span.tokens[0]}/{span.tokens[1]}" if span.tokens else "",
            _notes(span),
        ]
        for prefix, span in _tree(spans)
    ]
    errors = f" · {info.errors} error{'s' * (info.errors != 1)}" if info.errors else ""
    header = (
        f"trace {info.trace_id} · {info.root} · {_clock(info.started_at)} UTC · {_ms(info.duration_ms)} ms · "
        f"{info.span_count} span{'s' * (info.span_count != 1)} · {info.total_tokens} tokens{errors}"
    )
    body = table(["SPAN", "START (ms)", "DURATION (ms)", "TOKENS in/out", "NOTES"], rows, right=frozenset({1, 2, 3}))
    return f"{header}\n\n{body}"


def render_stats(stats: Sequence[SpanStats]) -> str:
    """`flock trace summary`: one table per operation (agents, then models, then tools)."""
    if not stats:
        return "no agent activations, model calls or tool calls"
    sections: list[str] = []
    for operation, (subject, count) in _SUBJECT.items():
        members = [s for s in stats if s.operation == operation]
        if not members:
            continue
        rows = [
            [
                s.name,
                str(s.count),
                _ms(s.p50_ms),
                _ms(s.p95_ms),
                str(s.input_tokens),
                str(s.output_tokens),
                str(s.errors),
            ]
            for s in members
        ]
        headers = [subject, count, "P50 (ms)", "P95 (ms)", "INPUT TOKENS", "OUTPUT TOKENS", "ERRORS"]
        sections.append(table(headers, rows, right=frozenset(range(1, 7))))
    return "\n\n".join(sections)


def to_json(value: object) -> str:
    """Records (and lists of them) as indented JSON: datetimes in ISO 8601, spans with computed fields."""
    return json.dumps(_plain(value), indent=2, ensure_ascii=False)


def _plain(value: object) -> Any:
    if isinstance(value, SpanRecord | TraceInfo):
        extra = (
            {"duration_ms": value.duration_ms, "tokens": list(value.tokens) if value.tokens else None}
            if isinstance(value, SpanRecord)
            else {"total_tokens": value.total_tokens}
        )
        return {**_plain_fields(value), **extra}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _plain_fields(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in cast(Mapping[object, object], value).items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in cast(Sequence[object], value)]
    return value


def _plain_fields(value: Any) -> dict[str, Any]:
    return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}


def _is_activation(span: SpanRecord) -> bool:
    return span.attributes.get("gen_ai.operation.name") == "invoke_agent"


def _shown_parents(spans: Sequence[SpanRecord]) -> dict[str, str | None]:
    """The parent each span is drawn under: a chain of activations (a loop, a pipeline) is drawn flat.

    An activation that is the only activation caused by another activation is the next step of a sequence,
    not a branch: it is drawn beside its parent, so a loop of N rounds is N rows, not a tree N levels deep.
    Activations with several caused activations (a fan-out) keep them nested as branches.
    """
    by_id = {s.span_id: s for s in spans}
    caused: dict[str, int] = {}
    for span in spans:
        parent = by_id.get(span.parent_id or "")
        if parent is not None and _is_activation(span) and _is_activation(parent):
            caused[parent.span_id] = caused.get(parent.span_id, 0) + 1
    shown: dict[str, str | None] = {}
    for span in sorted(spans, key=lambda s: (s.start_ns, s.span_id)):  # a parent starts before its children
        parent = by_id.get(span.parent_id or "")
        if parent is None:
            shown[span.span_id] = None
        elif _is_activation(span) and _is_activation(parent) and caused[parent.span_id] == 1:
            shown[span.span_id] = shown.get(parent.span_id)
        else:
            shown[span.span_id] = parent.span_id
    return shown


def _tree(spans: Sequence[SpanRecord]) -> list[tuple[str, SpanRecord]]:
    """Spans in depth-first order with their tree-drawing prefix; spans whose parent is absent are roots."""
    shown = _shown_parents(spans)
    children: dict[str | None, list[SpanRecord]] = {}
    for span in sorted(spans, key=lambda s: (s.start_ns, s.span_id)):
        children.setdefault(shown[span.span_id], []).append(span)
    lines: list[tuple[str, SpanRecord]] = []
    stack = [(root, "", "") for root in reversed(children.get(None, []))]
    while stack:  # iterative: a long feedback loop nests activations thousands deep
        span, own, lead = stack.pop()
        lines.append((own, span))
        kids = children.get(span.span_id, [])
        for index in reversed(range(len(kids))):
            last = index == len(kids) - 1
            stack.append((kids[index], lead + ("└─ " if last else "├─ "), lead + ("   " if last else "│  ")))
    return lines


def _notes(span: SpanRecord) -> str:
    notes: list[str] = []
    if span.is_error:
        kind = span.error_type or "error"
        notes.append(f"ERROR {kind}: {span.status_message}" if span.status_message else f"ERROR {kind}")
    violations = sum(1 for e in span.events if e.name == "flock.contract_violation")
    if violations:
        notes.append(f"{violations} contract violation{'s' * (violations != 1)}")
    if len(span.links) > 1:
        notes.append(f"fan-in {len(span.links)}")
    attempt = span.attributes.get("flock.work.attempt")
    if isinstance(attempt, int) and attempt > 1:
        notes.append(f"attempt {attempt}")
    return "; ".join(notes)


def _ms(value: float) -> str:
    return f"{value:,.1f}"


def _clock(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d}"
