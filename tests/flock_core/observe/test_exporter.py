"""`SQLiteSpanExporter`: what a run of the pipeline writes to the trace file, batching, failure modes."""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter, SpanExportResult

from flock_core.tracing import SQLiteSpanExporter, TraceFile

from .conftest import Topic, file_provider, make_flock


def test_a_pipeline_run_is_written_with_attributes_links_and_events(tmp_path: Path) -> None:
    path = tmp_path / "traces.db"
    provider = file_provider(path)
    flock = make_flock(provider, judge=True)
    result = flock.run(Topic(name="bees"))
    provider.shutdown()
    with TraceFile(path) as traces:
        [run] = traces.traces()
        spans = {s.name: s for s in traces.spans(run.trace_id)}
    assert list(spans) == [
        "invoke_workflow Topic",
        "publish Topic",
        "invoke_agent brainstorm",
        "invoke_agent summarise",
        "invoke_agent judge",
    ]
    workflow, publish, brainstorm, summarise, judge = spans.values()
    assert (workflow.kind, workflow.parent_id, workflow.scope) == ("INTERNAL", None, "flock_core")
    assert (publish.kind, publish.parent_id) == ("PRODUCER", workflow.span_id)
    assert {s.parent_id for s in (brainstorm, summarise, judge)} == {workflow.span_id}
    assert brainstorm.attributes["gen_ai.agent.name"] == "brainstorm"
    assert brainstorm.attributes["flock.output.types"] == ("Idea", "Idea", "Idea")
    assert brainstorm.tokens == (10, 5)
    assert [link.span_id for link in summarise.links] == [brainstorm.span_id] * 3
    ideas = {str(a.id) for a in result.artifacts if a.type == "Idea"}
    assert {link.attributes["flock.artifact.id"] for link in summarise.links} == ideas
    assert (judge.status, judge.status_message, judge.error_type) == ("ERROR", "model down", "RuntimeError")
    [exception] = judge.events
    assert exception.name == "exception"
    assert exception.attributes["exception.type"] == "RuntimeError"
    assert {s.service_name for s in spans.values()} == {"flock-tests"}


def test_the_file_is_a_wal_database_marked_as_a_trace_file(tmp_path: Path) -> None:
    path = tmp_path / "traces.db"
    provider = file_provider(path)
    make_flock(provider).run(Topic(name="x"))
    provider.shutdown()
    with sqlite3.connect(path) as conn:
        pragmas = [conn.execute(f"PRAGMA {name}").fetchone()[0] for name in ("journal_mode", "application_id")]
        count = conn.execute("SELECT count(*) FROM spans").fetchone()[0]
    conn.close()
    assert pragmas == ["wal", 0x464C4B54]
    assert count == 4


def test_batches_from_two_providers_share_one_file(tmp_path: Path) -> None:
    path = tmp_path / "traces.db"
    providers = [TracerProvider(shutdown_on_exit=False) for _ in range(2)]
    for provider in providers:
        provider.add_span_processor(BatchSpanProcessor(SQLiteSpanExporter(path), schedule_delay_millis=5))
    for provider in providers:
        make_flock(provider).run(Topic(name="x"))
    for provider in providers:
        provider.shutdown()
    with TraceFile(path) as traces:
        runs = traces.traces()
    assert [(r.span_count, r.agents) for r in runs] == [(4, ("brainstorm", "summarise"))] * 2


def test_writers_racing_to_create_the_file_all_succeed(tmp_path: Path) -> None:
    """Like several processes starting at once on a new trace file: one creates it, none fails."""
    for attempt in range(3):
        path = tmp_path / f"race-{attempt}.db"
        start = threading.Barrier(4)
        results: list[SpanExportResult] = []

        def export(
            path: Path = path, start: threading.Barrier = start, results: list[SpanExportResult] = results
        ) -> None:
            exporter = SQLiteSpanExporter(path)
            provider = TracerProvider(shutdown_on_exit=False)
            provider.add_span_processor(SimpleSpanProcessor(_Recording(exporter, results)))
            tracer = provider.get_tracer("race")
            start.wait()
            for index in range(10):
                tracer.start_span(f"span {index}").end()
            provider.shutdown()

        threads = [threading.Thread(target=export) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert results == [SpanExportResult.SUCCESS] * 40
        with TraceFile(path) as traces:
            assert len(traces.traces(limit=None)) == 40


class _Recording(SpanExporter):
    def __init__(self, exporter: SQLiteSpanExporter, results: list[SpanExportResult]) -> None:
        self.exporter = exporter
        self.results = results

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        result = self.exporter.export(spans)
        self.results.append(result)
        return result

    def shutdown(self) -> None:
        self.exporter.shutdown()


def test_spans_after_shutdown_are_dropped_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    exporter = SQLiteSpanExporter(tmp_path / "traces.db")
    assert repr(exporter) == f"SQLiteSpanExporter({str(tmp_path / 'traces.db')!r})"
    exporter.shutdown()
    with caplog.at_level(logging.WARNING, logger="flock_core.tracing"):
        assert exporter.export([]) == SpanExportResult.FAILURE
    assert caplog.messages == [f"trace file exporter for {tmp_path / 'traces.db'} is shut down; dropped 0 span(s)"]
    assert exporter.force_flush() is True


def test_a_file_that_cannot_be_written_fails_the_export_and_logs_why(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    exporter = SQLiteSpanExporter(tmp_path / "missing-folder" / "traces.db")
    with caplog.at_level(logging.ERROR, logger="flock_core.tracing"):
        assert exporter.export([]) == SpanExportResult.FAILURE
    [message] = caplog.messages
    assert message == f"could not write 0 span(s) to the trace file {tmp_path / 'missing-folder' / 'traces.db'}"
    exporter.shutdown()


def test_another_sqlite_database_is_not_overwritten(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "board.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE artifacts (x)")
    conn.close()
    exporter = SQLiteSpanExporter(path)
    with caplog.at_level(logging.ERROR, logger="flock_core.tracing"):
        assert exporter.export([]) == SpanExportResult.FAILURE
    assert caplog.records[0].exc_info is not None
    assert str(caplog.records[0].exc_info[1]) == f"{path} is not a flock trace file"
    exporter.shutdown()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT name FROM sqlite_master").fetchall() == [("artifacts",)]
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    conn.close()
