"""`SQLiteSpanExporter`: an OpenTelemetry span exporter that writes finished spans to a trace file."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import SpanContext
from opentelemetry.util.types import Attributes

from ..exceptions import ConfigurationError
from ._schema import COLUMNS, open_for_writing

__all__ = ["SQLiteSpanExporter"]

_log = logging.getLogger("flock_core.tracing")
_INSERT = f"INSERT OR REPLACE INTO spans ({COLUMNS}) VALUES ({', '.join('?' * 14)})"


class SQLiteSpanExporter(SpanExporter):
    """Writes spans to an SQLite trace file that `flock trace` and `flock_core.tracing.TraceFile` read.

    Use it behind a `BatchSpanProcessor` (what `configure(file=...)` does) so spans are written in batches,
    off the event loop; a `SimpleSpanProcessor` writes each span as it ends. Several processes may export to
    the same file: writers wait for each other, readers never block them. The file is created on first export.

    Args:
        path: the trace file.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._closed = False

    def __repr__(self) -> str:
        return f"SQLiteSpanExporter({str(self.path)!r})"

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Write one batch of finished spans in one transaction."""
        rows = [span_row(span) for span in spans]
        with self._lock:
            if self._closed:
                _log.warning("trace file exporter for %s is shut down; dropped %d span(s)", self.path, len(rows))
                return SpanExportResult.FAILURE
            try:
                if self._conn is None:
                    self._conn = open_for_writing(self.path)
                with self._conn:
                    self._conn.execute("BEGIN IMMEDIATE")
                    self._conn.executemany(_INSERT, rows)
            except (sqlite3.Error, ConfigurationError):  # not a trace file, or unwritable: report, never raise
                _log.exception("could not write %d span(s) to the trace file %s", len(rows), self.path)
                return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Every exported batch is already committed; nothing to do."""
        del timeout_millis
        return True

    def shutdown(self) -> None:
        """Close the file; later exports are dropped."""
        with self._lock:
            self._closed = True
            if self._conn is not None:
                self._conn.close()
                self._conn = None


def span_row(span: ReadableSpan) -> tuple[Any, ...]:
    """The `spans` table row of one finished span."""
    context = span.context
    service = span.resource.attributes.get("service.name")
    scope = span.instrumentation_scope
    return (
        _trace_id(context),
        _span_id(context),
        _span_id(span.parent) if span.parent is not None else None,
        span.name,
        span.kind.name,
        span.start_time or 0,
        span.end_time or span.start_time or 0,
        span.status.status_code.name,
        span.status.description,
        _json(_attributes(span.attributes)),
        _json([{"name": e.name, "time_ns": e.timestamp, "attributes": _attributes(e.attributes)} for e in span.events]),
        _json(
            [
                {
                    "trace_id": _trace_id(link.context),
                    "span_id": _span_id(link.context),
                    "attributes": _attributes(link.attributes),
                }
                for link in span.links
            ]
        ),
        str(service) if service is not None else None,
        scope.name if scope is not None else None,
    )


def _trace_id(context: SpanContext | None) -> str:
    return format(context.trace_id, "032x") if context is not None else "0" * 32


def _span_id(context: SpanContext | None) -> str:
    return format(context.span_id, "016x") if context is not None else "0" * 16


def _attributes(attributes: Attributes) -> dict[str, Any]:
    source: Mapping[str, Any] = attributes or {}
    return {key: value if isinstance(value, str | bool | int | float) else list(value) for key, value in source.items()}


def _json(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
