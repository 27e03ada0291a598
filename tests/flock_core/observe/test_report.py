# ruff: noqa: E501 - the snapshots are whole lines of terminal output
"""The text and JSON reports of `flock trace`, on synthetic traces with fixed ids and times."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from inline_snapshot import snapshot

from flock_core.observe._report import render_spans, render_stats, render_traces, table, to_json
from flock_core.tracing import TraceFile

from .conftest import write_synthetic_traces


@pytest.fixture
def traces(tmp_path: Path) -> Iterator[TraceFile]:
    path = tmp_path / "traces.db"
    write_synthetic_traces(path)
    with TraceFile(path) as opened:
        yield opened


def test_table_aligns_columns_and_trims_trailing_blanks() -> None:
    text = table(["NAME", "N", "NOTE"], [["a", "1", ""], ["long name", "1,234", "x"]], right=frozenset({1}))
    assert text.splitlines() == [
        "NAME           N  NOTE",
        "a              1",
        "long name  1,234  x",
    ]


def test_list_shows_one_line_per_run_newest_first(traces: TraceFile) -> None:
    assert render_traces(traces.traces()) == snapshot("""\
TRACE ID                          ROOT           STARTED (UTC)            DURATION (ms)  SPANS  AGENTS                 TOKENS  ERRORS
22222222222222222222222222222222  publish Topic  2023-11-14 22:13:21.000           11.0      3  brainstorm                140       0
11111111111111111111111111111111  publish Topic  2023-11-14 22:13:20.000           60.0      7  brainstorm, summarise     255       1\
""")


def test_show_draws_the_span_tree_with_tokens_and_notes(traces: TraceFile) -> None:
    assert render_spans(traces.spans("1111")) == snapshot("""\
trace 11111111111111111111111111111111 · publish Topic · 2023-11-14 22:13:20.000 UTC · 60.0 ms · 7 spans · 255 tokens · 1 error

SPAN                        START (ms)  DURATION (ms)  TOKENS in/out  NOTES
publish Topic                      0.0            0.4
├─ invoke_agent brainstorm         1.0           30.0         120/45  1 contract violation
│  ├─ chat gpt-test                2.0           12.0          50/20
│  ├─ execute_tool search         14.5            1.5
│  └─ chat gpt-test               16.5           13.5          70/25
└─ invoke_agent summarise         32.0           28.0                 ERROR EngineError: model down; fan-in 3
   └─ chat gpt-test               33.0           26.0          80/10\
""")


def test_summary_has_a_table_per_agent_model_and_tool(traces: TraceFile) -> None:
    assert render_stats(traces.stats()) == snapshot("""\
AGENT       ACTIVATIONS  P50 (ms)  P95 (ms)  INPUT TOKENS  OUTPUT TOKENS  ERRORS
brainstorm            2      10.0      30.0           220             85       0
summarise             1      28.0      28.0            80             10       1

MODEL     CALLS  P50 (ms)  P95 (ms)  INPUT TOKENS  OUTPUT TOKENS  ERRORS
gpt-test      4      12.0      26.0           300             95       0

TOOL    CALLS  P50 (ms)  P95 (ms)  INPUT TOKENS  OUTPUT TOKENS  ERRORS
search      1       1.5       1.5             0              0       0\
""")


def test_empty_reports_say_so() -> None:
    assert (render_traces([]), render_stats([])) == ("no traces", "no agent activations, model calls or tool calls")


def test_json_has_plain_values_and_computed_fields(traces: TraceFile) -> None:
    [newest, oldest] = json.loads(to_json(traces.traces()))
    assert oldest == snapshot(
        {
            "trace_id": "11111111111111111111111111111111",
            "root": "publish Topic",
            "started_at": "2023-11-14T22:13:20+00:00",
            "duration_ms": 60.0,
            "span_count": 7,
            "agents": ["brainstorm", "summarise"],
            "input_tokens": 200,
            "output_tokens": 55,
            "errors": 1,
            "correlation_id": "corr-1",
            "total_tokens": 255,
        }
    )
    assert newest["trace_id"] == "2" * 32
    spans = json.loads(to_json(traces.spans("2222")))
    assert spans[0] == snapshot(
        {
            "trace_id": "22222222222222222222222222222222",
            "span_id": "0000000000000065",
            "parent_id": None,
            "name": "publish Topic",
            "kind": "PRODUCER",
            "start_ns": 1700000001000000000,
            "end_ns": 1700000001000200000,
            "status": "UNSET",
            "status_message": None,
            "attributes": {"gen_ai.conversation.id": "corr-2"},
            "events": [],
            "links": [],
            "service_name": "flock-tests",
            "scope": "flock_core",
            "duration_ms": 0.2,
            "tokens": None,
        }
    )


def test_a_long_loop_renders_flat_and_a_fan_out_keeps_its_branches(tmp_path: Path) -> None:
    from flock_core import Flock
    from flock_core.testing import FunctionEngine

    from .conftest import Idea, Summary, Topic, file_provider, pipeline_engine

    path = tmp_path / "traces.db"
    provider = file_provider(path)
    loop = Flock(
        engine=FunctionEngine(lambda request: [Topic(name="again")]), max_agent_iterations=200, tracer_provider=provider
    )  # pyright: ignore[reportUnknownLambdaType]
    loop.register_type(Topic)
    loop.agent("echo").consumes(Topic).publishes(Topic).prevent_self_trigger(False)
    loop.run(Topic(name="start"))
    branches = Flock(engine=FunctionEngine(pipeline_engine), tracer_provider=provider)
    for model in (Topic, Idea, Summary):
        branches.register_type(model)
    branches.agent("brainstorm").consumes(Topic).publishes(Idea, fan_out=3)
    branches.agent("each").consumes(Idea).publishes(Summary)  # three branches
    branches.run(Topic(name="bees"))
    provider.shutdown()
    with TraceFile(path) as traces:
        fan_out, looped = (traces.spans(info.trace_id) for info in traces.traces())
    rows = render_spans(looped).splitlines()[3:]
    assert len(rows) == 1 + 201  # the publish, 200 rounds and the tripped one
    assert {row.split("invoke_agent")[0] for row in rows[1:]} == {"├─ ", "└─ "}  # every round one level deep
    assert [re.split(r"\s{2,}\d", row)[0] for row in render_spans(fan_out).splitlines()[3:]] == [
        "publish Topic",
        "└─ invoke_agent brainstorm",
        "   ├─ invoke_agent each",
        "   ├─ invoke_agent each",
        "   └─ invoke_agent each",
    ]
