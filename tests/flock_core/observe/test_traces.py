"""`TraceFile` queries: runs, trace id prefixes, statistics, and files that are not trace files."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from flock_core.exceptions import ConfigurationError
from flock_core.tracing import SpanStats, TraceFile, TraceInfo

from .conftest import SequentialIds, Topic, file_provider, make_flock, write_synthetic_traces


@pytest.fixture
def synthetic(tmp_path: Path) -> Path:
    path = tmp_path / "traces.db"
    write_synthetic_traces(path)
    return path


def test_traces_are_newest_first_and_limited(synthetic: Path) -> None:
    with TraceFile(synthetic) as traces:
        assert [t.trace_id[0] for t in traces.traces()] == ["2", "1"]
        assert [t.trace_id[0] for t in traces.traces(limit=1)] == ["2"]
        assert len(traces.traces(limit=None)) == 2
        [_, first] = traces.traces()
    assert first == TraceInfo(
        trace_id="1" * 32,
        root="publish Topic",
        started_at=datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC),
        duration_ms=60.0,
        span_count=7,
        agents=("brainstorm", "summarise"),
        input_tokens=200,  # brainstorm's own 120 (its chats are inside it) + the failed summarise's chat 80
        output_tokens=55,
        errors=1,
        correlation_id="corr-1",
    )
    assert first.total_tokens == 255


def test_a_trace_is_found_by_a_unique_prefix_in_any_case(synthetic: Path) -> None:
    with TraceFile(synthetic) as traces:
        assert traces.resolve("2") == "2" * 32
        assert traces.resolve(" 1111AAAA"[:5].upper()) == "1" * 32
        spans = traces.spans("11")
    assert [s.name for s in spans] == [
        "publish Topic",
        "invoke_agent brainstorm",
        "chat gpt-test",
        "execute_tool search",
        "chat gpt-test",
        "invoke_agent summarise",
        "chat gpt-test",
    ]


@pytest.mark.parametrize(
    ("prefix", "message"),
    [
        ("3", "no trace '3' in {path}"),
        ("xyz", "'xyz' is not a trace id (1 to 32 hex digits)"),
        ("", "'' is not a trace id (1 to 32 hex digits)"),
        ("1" * 33, f"'{'1' * 33}' is not a trace id (1 to 32 hex digits)"),
    ],
)
def test_unknown_or_malformed_trace_ids_are_lookup_errors(synthetic: Path, prefix: str, message: str) -> None:
    with TraceFile(synthetic) as traces, pytest.raises(LookupError) as raised:
        traces.spans(prefix)
    assert str(raised.value) == message.format(path=synthetic)


def test_an_ambiguous_prefix_names_the_candidates(tmp_path: Path) -> None:
    path = tmp_path / "traces.db"
    provider = file_provider(path, ids=_SameFirstDigit())
    flock = make_flock(provider)
    flock.run(Topic(name="a"))
    flock.run(Topic(name="b"))
    provider.shutdown()
    with TraceFile(path) as traces, pytest.raises(LookupError) as raised:
        traces.resolve("ab")
    assert str(raised.value) == f"trace id prefix 'ab' is ambiguous: {'ab' + '0' * 29 + '1'}, {'ab' + '0' * 29 + '2'}"


def test_stats_cover_the_whole_file_or_one_trace(synthetic: Path) -> None:
    with TraceFile(synthetic) as traces:
        whole = {(s.operation, s.name): s for s in traces.stats()}
        second = traces.stats("2")
    assert whole["invoke_agent", "summarise"] == SpanStats(
        operation="invoke_agent",
        name="summarise",
        count=1,
        p50_ms=28.0,
        p95_ms=28.0,
        input_tokens=80,
        output_tokens=10,
        errors=1,
    )
    assert list(whole) == [
        ("invoke_agent", "brainstorm"),
        ("invoke_agent", "summarise"),
        ("chat", "gpt-test"),
        ("execute_tool", "search"),
    ]
    assert [(s.name, s.count, s.input_tokens, s.output_tokens) for s in second] == [
        ("brainstorm", 1, 100, 40),
        ("gpt-test", 1, 100, 40),
    ]


def test_nested_activations_each_count_their_own_tokens(traced_run: Path) -> None:
    with TraceFile(traced_run) as traces:
        runs = traces.traces()
        stats = traces.stats()
    assert [(r.input_tokens, r.output_tokens, r.errors) for r in runs] == [(17, 8, 1)] * 2
    assert [(s.name, s.count, s.input_tokens, s.output_tokens, s.errors) for s in stats] == [
        ("brainstorm", 2, 20, 10, 0),
        ("summarise", 2, 14, 6, 0),
        ("judge", 2, 0, 0, 2),
    ]


def test_a_missing_file_is_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no trace file at"):
        TraceFile(tmp_path / "nope.db")


def test_other_files_are_not_trace_files(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello " * 100)
    board = tmp_path / "board.db"
    with sqlite3.connect(board) as conn:
        conn.execute("CREATE TABLE artifacts (x)")
    conn.close()
    with pytest.raises(ConfigurationError, match=r"notes.txt is not a flock trace file \(file is not a database\)"):
        TraceFile(text)
    with pytest.raises(ConfigurationError, match=r"board.db is not a flock trace file$"):
        TraceFile(board)


def test_a_newer_schema_asks_for_an_upgrade(synthetic: Path) -> None:
    with sqlite3.connect(synthetic) as conn:
        conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(ConfigurationError, match=r"uses trace file schema 99; .* reads up to 1: upgrade flockboard"):
        TraceFile(synthetic)


class _SameFirstDigit(SequentialIds):
    """Trace ids 0xab00..01, 0xab00..02: two traces that share the prefix `ab`."""

    def generate_trace_id(self) -> int:
        return (0xAB << 120) + super().generate_trace_id() // int("1" * 32, 16)


def test_a_circuit_breaker_trip_is_an_error_span_that_trace_list_counts(tmp_path: Path) -> None:
    from flock_core import Flock
    from flock_core.testing import FunctionEngine

    path = tmp_path / "traces.db"
    provider = file_provider(path)
    flock = Flock(
        engine=FunctionEngine(lambda request: [Topic(name="again")]),  # pyright: ignore[reportUnknownLambdaType]
        max_agent_iterations=3,
        tracer_provider=provider,
    )
    flock.register_type(Topic)
    flock.agent("echo").consumes(Topic).publishes(Topic).prevent_self_trigger(False)
    flock.run(Topic(name="start"))
    provider.shutdown()
    with TraceFile(path) as traces:
        [info] = traces.traces()
        spans = traces.spans(info.trace_id)
    [workflow] = [s for s in spans if s.parent_id is None]
    assert (workflow.name, workflow.status) == ("invoke_workflow Topic", "ERROR")  # the trip marks its workflow
    tripped = [s for s in spans if s.status == "ERROR" and s is not workflow]
    assert info.errors == len(tripped) == 1
    assert [(s.name, s.attributes.get("error.type")) for s in tripped] == [
        ("invoke_agent echo", "CircuitBreakerTripped")
    ]
    assert tripped[0].status_message == (
        "circuit breaker: agent 'echo' reached max_agent_iterations=3 in this workflow and was stopped for it "
        "(check for a feedback loop; if the workflow needs more, raise the limit with "
        "Flock(max_agent_iterations=...), and bound its spending with a Budget)"
    )
