"""Every benchmark workload, our side only, at toy sizes: the benchmark code cannot rot unnoticed.

No Flock virtualenv is needed. The workloads run in-process (the driver protocol is exercised once), the
fake model runs in its own process exactly as in `make bench`.
"""

from __future__ import annotations

import asyncio
import doctest
import importlib
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import benchmarks.__main__ as bench_main
from benchmarks import _durable_rows, _ours_side, _report, _runner, _stages, _suite
from benchmarks._lm_server import LMServer
from benchmarks._payloads import CALLS_PER_WORKFLOW, Idea, Review
from benchmarks._protocol import STAGE_NAMES, Job, Outcome, StoreKind, WorkloadName
from benchmarks._replies import RequestedField, chat_reply, requested_fields
from benchmarks._report import Figure, Row, Target, markdown_table, targets_summary
from benchmarks._runner import Interpreter, run_job


def run(job: Job) -> Outcome:
    return asyncio.run(_ours_side.WORKLOADS[job.workload](job, time.perf_counter()))


@pytest.fixture(scope="module")
def lm_server() -> Iterator[LMServer]:
    with LMServer(0.0) as server:
        yield server


def test_overhead_and_its_floor() -> None:
    for workload in ("overhead", "overhead_floor"):
        outcome = run(Job(workload, size=5, runs=2))
        assert len(outcome.series["artifacts_per_s"]) == 2
        assert min(outcome.series["us_per_activation"]) > 0


def test_makespan_and_prompt_sizes_through_the_fake_model(lm_server: LMServer) -> None:
    lm_server.calls()
    outcome = run(Job("makespan", runs=1, warmup=1, base_url=lm_server.base_url))
    calls = lm_server.calls()
    assert len(outcome.series["makespan_s"]) == 1
    assert len(outcome.windows) == 2
    assert [len(_suite._in_window(calls, window)) for window in outcome.windows] == [CALLS_PER_WORKFLOW] * 2
    tokens = _suite._prompt_tokens(outcome, calls, 1)
    assert isinstance(tokens, Figure)
    assert tokens.low > 50


@pytest.mark.parametrize("workload", ["makespan_floor", "makespan_dspy"])
def test_makespan_floors_make_the_same_calls(workload: WorkloadName, lm_server: LMServer) -> None:
    lm_server.calls()
    outcome = run(Job(workload, runs=1, base_url=lm_server.base_url))
    assert len(lm_server.calls()) == CALLS_PER_WORKFLOW
    assert outcome.series["makespan_s"][0] > 0


@pytest.mark.parametrize("lm", [False, True], ids=["deterministic", "dspy"])
def test_first_output(lm: bool, lm_server: LMServer) -> None:
    outcome = run(Job("first_output", lm=lm, base_url=lm_server.base_url))
    assert outcome.series["first_output_s"][0] > 0


@pytest.mark.parametrize("workload", ["memory", "memory_floor"])
def test_memory(workload: WorkloadName) -> None:
    outcome = run(Job(workload, size=50))
    assert outcome.series["peak_mb"][0] >= outcome.series["baseline_mb"][0] > 0


@pytest.mark.parametrize(("store", "clients"), [("memory", 1), ("sqlite", 1), ("postgres", 1), ("postgres", 3)])
def test_durable(store: StoreKind, clients: int) -> None:
    outcome = run(Job("durable", size=7, store=store, dsn=_suite.DEFAULT_PG_DSN, clients=clients))
    if store == "postgres" and "unavailable" in outcome.info:
        assert str(outcome.info["unavailable"]).startswith("not available")
        return
    assert outcome.series["end_to_end_per_s"][0] > 0


def test_durable_floor_commits_each_row_and_drops_its_table() -> None:
    import psycopg

    outcome = run(Job("durable_floor", size=7, runs=2, dsn=_suite.DEFAULT_PG_DSN))
    assert len(outcome.series["publish_per_s"]) == 2
    with psycopg.connect(_suite.DEFAULT_PG_DSN) as conn:
        left = conn.execute("SELECT count(*) FROM pg_tables WHERE tablename LIKE 'flock_bench_floor_%'").fetchone()
    assert left == (0,)


def test_durable_statement_stores_every_artifact_on_a_board_schema_and_drops_it() -> None:
    import psycopg

    outcome = run(Job("durable_statement", size=7, runs=2, dsn=_suite.DEFAULT_PG_DSN))
    assert len(outcome.series["publish_per_s"]) == 2  # each run counts its rows, and raises when one is missing
    with psycopg.connect(_suite.DEFAULT_PG_DSN) as conn:
        left = conn.execute(
            "SELECT count(*) FROM information_schema.schemata WHERE schema_name LIKE %s",
            (f"flock_bench_{os.getpid()}_%",),
        ).fetchone()
    assert left == (0,)


def test_worker_scaling_runs_real_worker_processes(lm_server: LMServer) -> None:
    job = Job("scaling", size=3, runs=1, base_url=lm_server.base_url, concurrency=2, dsn=_suite.DEFAULT_PG_DSN)
    outcome = run(job)
    if "unavailable" in outcome.info:
        assert str(outcome.info["unavailable"]).startswith("not available")
        return
    assert outcome.info["workers"] == 1
    assert outcome.series["activations_per_s"][0] > 0


def test_scaling_ratios_pair_runs_and_pass_reasons_through() -> None:
    fast = Outcome(series={"activations_per_s": [30.0, 40.0]})
    slow = Outcome(series={"activations_per_s": [10.0, 20.0]})
    assert _durable_rows._ratios(fast, slow) == Figure((3.0, 2.0))
    assert _durable_rows._ratios("failed: boom", slow) == "failed: boom"


def test_compiling_our_packages_writes_bytecode(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "mod.py").write_text("X = 1\n")
    monkeypatch.setattr(_runner, "ROOT", tmp_path)
    _runner.compile_packages(Interpreter("ours", Path(sys.executable), {"PYTHONDONTWRITEBYTECODE": "1"}), "pkg")
    assert list((package / "__pycache__").glob("mod.*.pyc"))


def test_driver_process_round_trip() -> None:
    outcome = run_job(Interpreter("ours", Path(sys.executable)), Job("overhead", size=3))
    assert outcome.info["framework"] == "flockboard"
    assert len(outcome.series["artifacts_per_s"]) == 1


def test_a_suite_workload_without_flock_says_why() -> None:
    bench = _suite.Bench(_suite.SMOKE, Interpreter("ours", Path(sys.executable)), None,
                         "--no-flock", lambda message: None)  # fmt: skip
    rows = _suite.overhead(bench)
    compared, stages = rows[:4], rows[4:]
    assert [row.flock for row in compared] == ["skipped: --no-flock"] * 4  # the SQLite row is the fourth
    assert isinstance(rows[0].ours, Figure)
    assert isinstance(rows[3].ours, Figure)
    assert rows[0].status == "n/a"
    assert [row.metric.removeprefix("µs per activation, stage: ") for row in stages[:-2]] == list(STAGE_NAMES)
    assert all(isinstance(row.ours, Figure) and row.flock == "—" for row in stages)


def test_every_stage_timer_is_reached() -> None:
    timers = _stages._Timers(STAGE_NAMES)
    asyncio.run(_stages._pipeline_cpu(Job("overhead_stages", size=3), timers))
    assert [name for name in STAGE_NAMES[:-1] if timers.entered[name] == 0] == []


def test_stage_times_add_up_to_the_plain_runs_total() -> None:
    outcome = run(Job("overhead_stages", size=20, runs=1))
    stages = [outcome.series[f"stage_us:{name}"][0] for name in STAGE_NAMES]
    total = outcome.series["us_per_activation"][0]
    assert all(value >= 0 for value in stages[:-1])
    assert sum(stages) == pytest.approx(total)
    assert outcome.series[f"stage_us:{STAGE_NAMES[8]}"][0] > 0  # the engine ran and was timed


OURS_SYSTEM = """Your input fields are:
1. `topic` (Topic): The Topic input artifact.
Your output fields are:
1. `ideas` (list[Idea]): A list of exactly 20 Idea artifacts.
All interactions will be structured in the following way, with the appropriate values filled in."""

FLOCK_SYSTEM = """Your input fields are:
1. `description` (str):
2. `topic` (Topic):
Your output fields are:
1. `ideas` (list[Idea]): Generate exactly 20 benchmarks._payloads.Idea instances
2. `review` (Review):
All interactions will be structured in the following way, with the appropriate values filled in."""


def test_requested_fields_read_both_frameworks_prompts() -> None:
    assert requested_fields(OURS_SYSTEM) == [RequestedField("ideas", Idea, 20)]
    assert requested_fields(FLOCK_SYSTEM) == [RequestedField("ideas", Idea, 20), RequestedField("review", Review, None)]
    reply = chat_reply(FLOCK_SYSTEM, seed=3)
    assert reply.startswith('[[ ## ideas ## ]]\n[{"title": "Idea 3"')
    assert reply.endswith('[[ ## review ## ]]\n{"verdict": "Draft 3 reads well", "stars": 4}\n\n[[ ## completed ## ]]')
    with pytest.raises(ValueError, match="no 'Your output fields are:'"):
        requested_fields("hello")


def test_rows_ratios_statuses_and_table() -> None:
    rows = [
        Row("w", "rate", Figure((30.0, 20.0, 40.0)), Figure((1.0,)), target=Target("flock", ">=", 20)),
        Row("w", "time", Figure((2.0,)), "skipped: no Python", Figure((1.0,)), "path", Target("floor", "<=", 1.15)),
        Row("w", "import", Figure((0.3,)), target=Target("absolute", "<=", 0.2, "s")),
        Row("w", "info", "not available yet"),
    ]
    assert [row.status for row in rows] == ["met", "not met", "not met", "n/a"]
    assert markdown_table(rows).splitlines()[2:4] == [
        "| w | rate | 30.0 [20.0–40.0] | 1.00 | 30.0x | — | — | ≥ 20x Flock | **met** |",
        "| w | time | 2.00 | skipped: no Python | — | 1.00 (path) | 2.00x | ≤ 1.15x floor | **not met** |",
    ]
    assert targets_summary(rows)[2] == "- NOT MET: w, import: 0.300 (target ≤ 0.2 s)"
    assert _report.row_record(rows[0])["ours"]["samples"] == [30.0, 20.0, 40.0]


@pytest.mark.parametrize("module", ["_payloads", "_replies", "_report"], ids=lambda name: name.removeprefix("_"))
def test_docstring_examples(module: str) -> None:
    result = doctest.testmod(importlib.import_module(f"benchmarks.{module}"))
    assert result.failed == 0
    assert result.attempted > 0


def test_http_floor_answers_the_same_requests() -> None:
    floor = run(Job("http_floor", size=5, runs=2, clients=2))
    assert len(floor.series["requests_per_s"]) == 2
    assert floor.info["http_parser"] in {"httptools", "h11"}


def test_http_publish_and_information_flow_cost() -> None:
    http = run(Job("http_publish", size=5, runs=1))
    assert len(http.series["requests_per_s"]) == 1
    assert min(http.series["ms_per_request"]) > 0
    many = run(Job("http_publish", size=7, runs=1, clients=3, store="postgres", dsn=_suite.DEFAULT_PG_DSN))
    if "unavailable" not in many.info:  # it checks that every request's artifact was stored
        assert len(many.series["requests_per_s"]) == 1
    flow = run(Job("flow_cost", size=10, runs=2))
    assert len(flow.series["us_per_activation"]) == 2


@pytest.mark.parametrize("max_pending", [0, 8])
def test_backpressure_with_and_without_a_bound(max_pending: int) -> None:
    outcome = run(Job("backpressure", size=30, concurrency=4, max_pending=max_pending))
    assert set(outcome.series) == {"baseline_mb", "half_mb", "peak_mb", "inputs_per_s"}
    assert outcome.series["baseline_mb"][0] <= outcome.series["half_mb"][0] <= outcome.series["peak_mb"][0]
    assert outcome.info["inputs"] == 30


def test_every_compared_store_row_has_the_issue_target() -> None:
    memory_publish = _durable_rows._durable_target("memory", "publish_per_s")
    assert memory_publish is not None
    assert memory_publish.text == "≥ 2x Flock"
    assert [_durable_rows._durable_target("sqlite", metric) for metric in ("publish_per_s", "end_to_end_per_s")] == [
        Target("flock", ">=", 1)
    ] * 2
    postgres = _durable_rows._durable_target("postgres", "publish_per_s")
    assert postgres is not None
    assert (postgres.text, postgres.holds(2_888), postgres.holds(2_889)) == ("≥ 2,889 publishes/s", False, True)
    assert _durable_rows._durable_target("postgres", "end_to_end_per_s") is None  # Flock has no PostgreSQL store


@pytest.mark.parametrize(
    ("argv", "folder"),
    [
        ([], "results"),
        (["--smoke"], "partial"),
        (["--only", "memory"], "partial"),
        (["--no-flock"], "partial"),
        (["--runs", "5"], "partial"),
        (["--size", "durable_inputs=30"], "partial"),
    ],
)
def test_only_the_whole_suite_replaces_the_committed_results(argv: list[str], folder: str) -> None:
    args = bench_main._parser().parse_args(argv)
    assert bench_main.output_folder(args) == (
        bench_main.RESULTS if folder == "results" else bench_main.RESULTS / "partial"
    )
    assert bench_main.output_folder(bench_main._parser().parse_args([*argv, "--out", "elsewhere"])) == Path("elsewhere")
