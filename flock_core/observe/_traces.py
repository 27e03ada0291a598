"""Queries over a trace file: runs (traces), the spans of one run, per-agent/model/tool statistics."""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Self

from ._records import Operation, SpanRecord, SpanStats, TraceInfo, record_of
from ._schema import COLUMNS, open_for_reading

__all__ = ["TraceFile", "counted_usage", "span_stats", "summarise_trace"]

_ORDER: dict[Operation, int] = {"invoke_agent": 0, "chat": 1, "execute_tool": 2}


class TraceFile:
    """Read access to a trace file written by `configure(file=...)` / `SQLiteSpanExporter`.

    A trace is one run: the spans caused by one external publish. The file may be written to while it is read.

    Args:
        path: the trace file.

    Raises:
        FileNotFoundError: there is no file at `path`.
        ConfigurationError: the file is not a trace file.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._conn = open_for_reading(path)

    def __repr__(self) -> str:
        return f"TraceFile({str(self.path)!r})"

    def traces(self, *, limit: int | None = 20) -> list[TraceInfo]:
        """The most recent runs, newest first (`limit=None`: all of them)."""
        rows = self._conn.execute(
            "SELECT trace_id FROM spans GROUP BY trace_id ORDER BY min(start_ns) DESC, trace_id LIMIT ?",
            (-1 if limit is None else limit,),
        ).fetchall()
        ids = [row[0] for row in rows]
        spans = self._spans_of(ids)
        return [summarise_trace(spans[trace_id]) for trace_id in ids]

    def resolve(self, trace_id: str) -> str:
        """The full trace id that starts with `trace_id` (a prefix of at least one hex digit).

        Raises:
            LookupError: no trace, or more than one, starts with it.
        """
        prefix = trace_id.strip().lower()
        if not prefix or len(prefix) > 32 or any(c not in "0123456789abcdef" for c in prefix):
            raise LookupError(f"{trace_id!r} is not a trace id (1 to 32 hex digits)")
        rows = self._conn.execute(
            "SELECT DISTINCT trace_id FROM spans WHERE trace_id BETWEEN ? AND ? ORDER BY trace_id LIMIT 6",
            (prefix.ljust(32, "0"), prefix.ljust(32, "f")),
        ).fetchall()
        matches = [row[0] for row in rows]
        if not matches:
            raise LookupError(f"no trace {trace_id!r} in {self.path}")
        if len(matches) > 1:
            shown = ", ".join(matches[:5]) + (", ..." if len(matches) > 5 else "")
            raise LookupError(f"trace id prefix {trace_id!r} is ambiguous: {shown}")
        return matches[0]

    def spans(self, trace_id: str) -> list[SpanRecord]:
        """Every span of one trace (given by its id or a unique prefix), in start order."""
        full = self.resolve(trace_id)
        return self._spans_of([full])[full]

    def stats(self, trace_id: str | None = None) -> list[SpanStats]:
        """Statistics per agent, model and tool, over one trace or the whole file."""
        if trace_id is not None:
            return span_stats(self.spans(trace_id))
        rows = self._conn.execute(f"SELECT {COLUMNS} FROM spans ORDER BY start_ns, span_id").fetchall()
        return span_stats([record_of(row) for row in rows])

    def close(self) -> None:
        """Close the file."""
        self._conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _spans_of(self, trace_ids: Sequence[str]) -> dict[str, list[SpanRecord]]:
        found: dict[str, list[SpanRecord]] = {trace_id: [] for trace_id in trace_ids}
        for start in range(0, len(trace_ids), 500):
            chunk = trace_ids[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            sql = f"SELECT {COLUMNS} FROM spans WHERE trace_id IN ({marks}) ORDER BY start_ns, span_id"
            for row in self._conn.execute(sql, chunk):
                record = record_of(row)
                found[record.trace_id].append(record)
        return found


def summarise_trace(spans: Sequence[SpanRecord]) -> TraceInfo:
    """The `TraceInfo` of one trace's spans (in start order)."""
    ids = {s.span_id for s in spans}
    roots = [s for s in spans if s.parent_id not in ids] or list(spans)
    root = min(roots, key=lambda s: s.start_ns)
    start = min(s.start_ns for s in spans)
    agents = dict.fromkeys(s.subject for s in spans if s.operation == "invoke_agent")
    usage = counted_usage(spans)
    conversation = root.attributes.get("gen_ai.conversation.id")
    return TraceInfo(
        trace_id=root.trace_id,
        root=root.name,
        started_at=datetime.fromtimestamp(start / 1e9, UTC),
        duration_ms=(max(s.end_ns for s in spans) - start) / 1e6,
        span_count=len(spans),
        agents=tuple(agents),
        input_tokens=sum(tokens[0] for _, tokens in usage),
        output_tokens=sum(tokens[1] for _, tokens in usage),
        errors=sum(1 for s in spans if s.is_error and s.attributes.get("gen_ai.operation.name") != "invoke_workflow"),
        correlation_id=conversation if isinstance(conversation, str) else None,
    )


def counted_usage(spans: Iterable[SpanRecord]) -> list[tuple[SpanRecord, tuple[int, int]]]:
    """Spans whose token usage counts towards a total, each token once.

    An activation (`invoke_agent`) reports the usage of all its model calls, and each `chat` span inside it
    reports its own. So a span's usage counts unless a span above it *within the same activation* (up to and
    including the enclosing `invoke_agent`) reports usage too; the calls of a failed activation, which reports
    none, still count. Activations nest causally (a consumer is a child of its input's producer) and all count.
    """
    by_id = {(s.trace_id, s.span_id): s for s in spans}
    counted: list[tuple[SpanRecord, tuple[int, int]]] = []
    for span in by_id.values():
        tokens = span.tokens
        if tokens is not None and (span.operation == "invoke_agent" or not _covered(span, by_id)):
            counted.append((span, tokens))
    return counted


def _covered(span: SpanRecord, by_id: dict[tuple[str, str], SpanRecord]) -> bool:
    """Whether a span between `span` and its enclosing activation (inclusive) reports token usage."""
    for ancestor in _ancestors(span, by_id):
        if ancestor.tokens is not None:
            return True
        if ancestor.operation == "invoke_agent":
            return False
    return False


def span_stats(spans: Sequence[SpanRecord]) -> list[SpanStats]:
    """Per agent (`invoke_agent`), model (`chat`) and tool (`execute_tool`): count, latency, tokens, errors."""
    by_id = {(s.trace_id, s.span_id): s for s in spans}
    groups: dict[tuple[Operation, str], list[SpanRecord]] = {}
    for span in spans:
        if span.operation is not None:
            groups.setdefault((span.operation, span.subject), []).append(span)
    agent_tokens: dict[str, list[int]] = {}
    for span, (source, sink) in counted_usage(spans):
        agent = next((s.subject for s in (span, *_ancestors(span, by_id)) if s.operation == "invoke_agent"), None)
        if agent is not None:
            total = agent_tokens.setdefault(agent, [0, 0])
            total[0] += source
            total[1] += sink
    stats: list[SpanStats] = []
    for (operation, name), members in groups.items():
        durations = sorted(s.duration_ms for s in members)
        if operation == "invoke_agent":
            source, sink = agent_tokens.get(name, [0, 0])
        else:
            source = sum((s.tokens or (0, 0))[0] for s in members)
            sink = sum((s.tokens or (0, 0))[1] for s in members)
        stats.append(
            SpanStats(
                operation=operation,
                name=name,
                count=len(members),
                p50_ms=_percentile(durations, 50),
                p95_ms=_percentile(durations, 95),
                input_tokens=source,
                output_tokens=sink,
                errors=sum(1 for s in members if s.is_error),
            )
        )
    return sorted(stats, key=lambda s: _ORDER[s.operation])


def _ancestors(span: SpanRecord, by_id: dict[tuple[str, str], SpanRecord]) -> Iterable[SpanRecord]:
    seen: set[str] = set()
    parent = span.parent_id
    while parent is not None and parent not in seen:
        seen.add(parent)
        found = by_id.get((span.trace_id, parent))
        if found is None:
            return
        yield found
        parent = found.parent_id


def _percentile(sorted_values: Sequence[float], percent: int) -> float:
    """Nearest-rank percentile of an ascending, non-empty sequence."""
    rank = max(1, math.ceil(percent / 100 * len(sorted_values)))
    return sorted_values[rank - 1]
