"""The workloads: each runs both sides (and its floor) in fresh processes and returns table rows.

Sizes are chosen so that the whole suite takes a few minutes on a 2-core machine; `SMOKE` runs every
code path at toy sizes (the test suite runs our side of it in-process instead, see tests/benchmarks).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace

from ._bench import AHEAD, DEFAULT_PG_DSN, FULL, SMOKE, Bench, Sizes, series
from ._durable_rows import durable, worker_scaling
from ._lm_server import CallRecord, LMServer
from ._payloads import CALLS_PER_WORKFLOW, FAN_OUT, STAGES
from ._protocol import STAGE_NAMES, Job, Outcome
from ._report import Cell, Figure, Row, Target
from ._runner import BenchError, compile_packages

__all__ = ["DEFAULT_PG_DSN", "FULL", "SMOKE", "WORKLOADS", "Bench", "Sizes"]


def _per_artifact_bytes(outcome: list[Outcome] | str, size: int) -> Cell:
    if isinstance(outcome, str):
        return outcome
    growth = [(o.series["peak_mb"][0] - o.series["baseline_mb"][0]) * 1024 * 1024 / size for o in outcome]
    return Figure.of(growth)


def overhead(bench: Bench) -> list[Row]:
    """1. The 3-stage pipeline with a deterministic engine: throughput and time per activation."""
    sizes = bench.sizes
    job = Job("overhead", size=sizes.overhead_inputs, runs=sizes.runs)
    ours = bench.run(bench.ours, job)
    floor = bench.run(bench.ours, replace(job, workload="overhead_floor"))
    stages = bench.run(bench.ours, replace(job, workload="overhead_stages"))
    flock = bench.run(bench.flock, job)
    default_job = replace(job, size=sizes.flock_default_inputs)
    flock_default = bench.run(bench.flock, default_job, {"FLOCK_AUTO_TRACE": "true"})
    sqlite_job = replace(job, size=sizes.sqlite_overhead_inputs, store="sqlite")
    ours_sqlite, flock_sqlite = bench.run(bench.ours, sqlite_job), bench.run(bench.flock, sqlite_job)
    name = f"1. Overhead: {sizes.overhead_inputs:,} inputs x {len(STAGES)} stages, no LM"
    floor_label = "engine work alone"
    return [
        Row(
            name,
            "input artifacts/s (each: 3 activations)",
            series(ours, "artifacts_per_s"),
            series(flock, "artifacts_per_s"),
            series(floor, "artifacts_per_s"),
            floor_label,
            Target("flock", ">=", 40),
            "Flock runs with FLOCK_AUTO_TRACE=false and max_concurrency(64) per agent; each of its activations "
            "scans the whole board for context, so its rate falls as the board grows",
        ),
        Row(
            name,
            "µs per activation",
            series(ours, "us_per_activation"),
            series(flock, "us_per_activation"),
            series(floor, "us_per_activation"),
            floor_label,
        ),
        Row(
            name,
            f"input artifacts/s; Flock out of the box (auto-trace on), {sizes.flock_default_inputs} inputs",
            series(ours, "artifacts_per_s"),
            series(flock_default, "artifacts_per_s"),
            note="Flock's default traces and DEBUG-logs every method; its throughput also falls as the board grows",
        ),
        Row(
            name,
            f"input artifacts/s, SQLite store, {sizes.sqlite_overhead_inputs} inputs",
            series(ours_sqlite, "artifacts_per_s"),
            series(flock_sqlite, "artifacts_per_s"),
            target=AHEAD,
            note=_SQLITE_NOTE,
        ),
        *_stage_rows(name, stages),
    ]


_SQLITE_NOTE = (
    "the same pipeline on each framework's SQLite store (a file in a temporary folder); ours commits every step "
    "with the work it queues or completes in one transaction, Flock's store keeps the artifacts only"
)


def _stage_rows(name: str, stages: Outcome | str) -> list[Row]:
    """Our µs per activation by stage of the loop (a separate, instrumented run: see `_stages`)."""
    rows = [
        Row(name, f"µs per activation, stage: {stage}", series(stages, f"stage_us:{stage}"), "—")
        for stage in STAGE_NAMES
    ]
    return [
        *rows,
        Row(name, "µs per activation, all stages (CPU, plain runs)", series(stages, "us_per_activation"), "—",
            note=_STAGES_NOTE),
        Row(name, "µs per activation, what the stage timers add (taken out above)", series(stages, "timers_us"),
            "—"),
    ]  # fmt: skip


_STAGES_NOTE = (
    "CPU time of a separate run, measured plain and with a timer around each stage (exclusive times, per "
    "asyncio task); what the timers add, measured against the plain runs, is taken out of the stages, which add "
    "up to the plain runs' time; `other` is what no stage covers: the runtime's scheduling and task switches, "
    "the input loop"
)


def _in_window(calls: list[CallRecord], window: tuple[float, float]) -> list[CallRecord]:
    start, end = window
    return [call for call in calls if start <= call.at <= end]


def _prompt_tokens(outcome: Outcome | str, calls: list[CallRecord], run: int) -> Cell:
    """Mean estimated prompt tokens per call of `run` (spread: the smallest and largest call)."""
    if isinstance(outcome, str):
        return outcome
    in_run = _in_window(calls, outcome.windows[run])
    if not in_run:
        return "no calls recorded"
    return Figure.of((call.tokens for call in in_run), "mean")


def latency_bound(bench: Bench) -> list[Row]:
    """2 and 3. Fan-out 20 through the DSPy engine and the fake model: makespan and prompt sizes."""
    sizes = bench.sizes
    with LMServer(sizes.latency, python=str(bench.ours.python)) as server:
        job = Job("makespan", runs=sizes.runs, warmup=1, base_url=server.base_url)
        ours, ours_calls = bench.run(bench.ours, job), server.calls()
        flock, flock_calls = bench.run(bench.flock, job), server.calls()
        flock_default, _ = bench.run(bench.flock, replace(job, concurrency=2)), server.calls()
        http, _ = bench.run(bench.ours, replace(job, workload="makespan_floor")), server.calls()
        bare_dspy, _ = bench.run(bench.ours, replace(job, workload="makespan_dspy")), server.calls()
    name = f"2. Makespan: fan-out {FAN_OUT}, {CALLS_PER_WORKFLOW} calls, {sizes.latency * 1000:.0f} ms model latency"
    ours_s = series(ours, "makespan_s")
    critical = Figure.of([len(STAGES) * sizes.latency])
    makespan_target = Target("floor", "<=", 1.15)
    return [
        Row(name, "wall time per workflow (s)", ours_s, series(flock, "makespan_s"), critical, "critical path",
            makespan_target, "Flock runs with max_concurrency(64) per agent (the next row: its default, 2)"),
        Row(name, "wall time (s); Flock with its default per-agent concurrency (2)", ours_s,
            series(flock_default, "makespan_s")),
        Row(name, "wall time (s) vs the same calls over bare httpx", ours_s, "—", series(http, "makespan_s"),
            "httpx, no framework", Target("floor", "<=", 1.05)),
        Row(name, "wall time (s) vs the same calls through dspy.Predict", ours_s, "—",
            series(bare_dspy, "makespan_s"), "DSPy, no framework",
            note="the floor of any DSPy-based engine here: DSPy's CPU per call serialises across the fan-out"),
        Row(name, "client CPU per model call (ms), whole process", series(ours, "cpu_ms_per_call"),
            series(flock, "cpu_ms_per_call"),
            note="CPU spent building prompts, calling, parsing and orchestrating: it serialises a fan-out"),
        *_prompt_rows(sizes, (ours, ours_calls), (flock, flock_calls)),
    ]  # fmt: skip


Recorded = tuple[Outcome | str, list[CallRecord]]


def _prompt_rows(sizes: Sizes, ours: Recorded, flock: Recorded) -> list[Row]:
    later = sizes.runs  # the last run has the warm-up's and the other runs' workflows on the board
    name = "3. Prompt size: the same declarations, est. tokens (chars / 4) per call"
    target = Target("flock", "<=", 0.6)
    return [
        Row(name, "first workflow, empty board (mean [min–max] over calls)", _prompt_tokens(*ours, 0),
            _prompt_tokens(*flock, 0), target=target),
        Row(name, f"with {later} earlier workflow(s) on the board", _prompt_tokens(*ours, later),
            _prompt_tokens(*flock, later), target=target,
            note="Flock's default context provider puts every visible artifact on the board into each prompt; "
            "ours, the artifacts of the activation's own workflow (at most 50)"),
    ]  # fmt: skip


def cold_start(bench: Bench) -> list[Row]:
    """4. Import time (fresh process each) and time from process start to the first output on the board."""
    sizes = bench.sizes
    bench.log(f"  import times ({sizes.import_runs} fresh processes each), bytecode compiled as an install would")
    try:
        compile_packages(bench.ours, "flock_core", "engines")
    except BenchError as error:
        bench.log(f"  could not compile our packages ({error}); our imports include compiling them")
    name = "4. Cold start"
    rows = [
        Row(name, "import time (s): `from <framework> import Flock, flock_type`",
            bench.time_imports(bench.ours, "from flock_core import Flock, flock_type"),
            bench.time_imports(bench.flock, "from flock import Flock, flock_type"),
            bench.time_imports(bench.ours, "import pydantic"), "import pydantic", Target("absolute", "<=", 0.2, "s")),
    ]  # fmt: skip
    job = Job("first_output")
    ours, flock = bench.each_run(bench.ours, job, sizes.runs), bench.each_run(bench.flock, job, sizes.runs)
    metric = "process start to first output (s), deterministic engine"
    rows.append(Row(name, metric, series(ours, "first_output_s"), series(flock, "first_output_s")))
    with LMServer(0.0, python=str(bench.ours.python)) as server:
        job = Job("first_output", lm=True, base_url=server.base_url)
        ours, flock = bench.each_run(bench.ours, job, sizes.runs), bench.each_run(bench.flock, job, sizes.runs)
    metric = "process start to first output (s), DSPy engine, fake model (0 ms)"
    rows.append(Row(name, metric, series(ours, "first_output_s"), series(flock, "first_output_s")))
    return rows


def memory(bench: Bench) -> list[Row]:
    """5. Peak RSS with 100,000 artifacts on the in-memory board (one process per run)."""
    sizes = bench.sizes
    job = Job("memory", size=sizes.memory_artifacts)
    ours = bench.each_run(bench.ours, job, sizes.runs)
    flock = bench.each_run(bench.flock, job, sizes.runs)
    floor = bench.each_run(bench.ours, replace(job, workload="memory_floor"), sizes.runs)
    name = f"5. Memory: {sizes.memory_artifacts:,} artifacts, in-memory board"
    label = "payloads in a list"
    return [
        Row(
            name,
            "peak RSS (MiB)",
            series(ours, "peak_mb"),
            series(flock, "peak_mb"),
            series(floor, "peak_mb"),
            label,
            Target("absolute", "<", 1024, "MiB"),
            "ru_maxrss of the whole process, imports included (Flock imports LiteLLM and DSPy eagerly)",
        ),
        Row(
            name,
            "RSS growth per artifact (bytes)",
            _per_artifact_bytes(ours, job.size),
            _per_artifact_bytes(flock, job.size),
            _per_artifact_bytes(floor, job.size),
            label,
            Target("flock", "<=", 0.8),
        ),
        Row(
            name,
            "time to publish them all (s)",
            series(ours, "publish_s"),
            series(flock, "publish_s"),
            series(floor, "publish_s"),
            "building the payloads",
            Target("flock", "<=", 0.5),
        ),
    ]


def security(bench: Bench) -> list[Row]:
    """7. HTTP publishes through each framework's REST API (same client), and information flow per activation."""
    sizes = bench.sizes
    dsn = os.environ.get("FLOCK_PG_DSN", DEFAULT_PG_DSN)
    job = Job("http_publish", size=sizes.http_requests, runs=sizes.runs)
    many = replace(job, clients=sizes.http_clients)
    pg = replace(job, size=sizes.postgres_http_requests, store="postgres", dsn=dsn)
    http, flock_http = bench.run(bench.ours, job), bench.run(bench.flock, job)
    http_many, flock_many = bench.run(bench.ours, many), bench.run(bench.flock, many)
    floor = bench.run(bench.ours, replace(job, workload="http_floor"))
    http_pg, http_pg_many = bench.run(bench.ours, pg), bench.run(bench.ours, replace(pg, clients=sizes.http_clients))
    flow = bench.run(bench.ours, Job("flow_cost", size=sizes.flow_context, runs=sizes.runs))
    overhead = bench.run(bench.ours, Job("overhead", size=sizes.overhead_inputs, runs=sizes.runs))
    name = "7. HTTP publish (POST /api/v1/artifacts, httpx keep-alive); information flow per activation"
    clients, none = sizes.http_clients, "Flock ships no PostgreSQL store"
    return [
        Row(name, f"HTTP publishes/s, one connection, {sizes.http_requests:,} sequential requests",
            series(http, "requests_per_s"), series(flock_http, "requests_per_s"), series(floor, "requests_per_s"),
            "a bare route: parse, validate, keep", AHEAD, _http_note(http, flock_http)),
        Row(name, "ms per HTTP publish (client + server, one process)", series(http, "ms_per_request"),
            series(flock_http, "ms_per_request")),
        Row(name, f"HTTP publishes/s, {clients} connections", series(http_many, "requests_per_s"),
            series(flock_many, "requests_per_s"), target=AHEAD),
        Row(name, f"HTTP publishes/s, PostgreSQL store, one connection, {sizes.postgres_http_requests:,} requests",
            series(http_pg, "requests_per_s"), none),
        Row(name, f"HTTP publishes/s, PostgreSQL store, {clients} connections", series(http_pg_many, "requests_per_s"),
            none, series(http_pg, "requests_per_s"), "one connection", note=_HTTP_PG_NOTE),
        Row(name, f"µs per activation: output visibility from 1 input + {sizes.flow_context} context artifacts",
            series(flow, "us_per_activation"), "Flock has no information flow", series(overhead, "us_per_activation"),
            "a whole activation, workload 1"),
    ]  # fmt: skip


"""Ahead of Flock (a rate at least Flock's)."""

_HTTP_NOTE = (
    "the same httpx client, body and keep-alive connection on both sides, in the serving process (client and server "
    "share it and the machine's 2 CPUs); Flock's REST API is its own `Flock.serve()` (FastAPI on uvicorn) with "
    "uvicorn's access log filtered out, as ours logs none; each side's in-memory store"
)


def _http_note(ours: Outcome | str, flock: Outcome | str) -> str:
    """`_HTTP_NOTE` and which HTTP parser each side's uvicorn ran (httptools when installed, else h11)."""
    parsers = [o.info.get("http_parser", "?") if isinstance(o, Outcome) else "?" for o in (ours, flock)]
    if parsers[0] == parsers[1]:
        stack = (
            f"both servers parse HTTP with {parsers[0]} (uvicorn's choice when httptools is installed: ours installs "
            "it with the `serve` extra, Flock does not, so its benchmark environment gets it added)"
        )
    else:
        stack = f"NOT like for like: ours parses HTTP with {parsers[0]}, Flock with {parsers[1]}"
    return f"{_HTTP_NOTE}; {stack}; each side on its own interpreter (the header names them; docs/performance.md, 7)"


_HTTP_PG_NOTE = (
    "each request is committed before its response; concurrent requests share transactions (group commit), so more "
    "connections raise the rate where one connection waits for a WAL flush per request"
)


def backpressure(bench: Bench) -> list[Row]:
    """8. Peak RSS while inputs flow through a 3-stage pipeline whose engine sleeps 10 ms, with and without a bound."""
    sizes = bench.sizes
    job = Job("backpressure", size=sizes.backpressure_inputs, concurrency=sizes.backpressure_concurrency,
              max_pending=sizes.backpressure_bound, timeout=max(600.0, sizes.backpressure_inputs / 20))  # fmt: skip
    bounded = bench.each_run(bench.ours, job, sizes.backpressure_runs)
    unbounded = bench.each_run(bench.ours, replace(job, max_pending=0), sizes.backpressure_runs)
    small = replace(job, size=sizes.backpressure_flock_inputs, max_pending=0, timeout=600.0)
    ours_small, flock_small = bench.each_run(bench.ours, small, sizes.runs), bench.each_run(bench.flock, small, 1)
    name = (
        f"8. Back-pressure: {sizes.backpressure_inputs:,} inputs x {len(STAGES)} stages, engine sleeps 10 ms, "
        f"SQLite board, max_concurrency {sizes.backpressure_concurrency} ({_runs(sizes.backpressure_runs)} "
        f"at {sizes.backpressure_inputs:,}, {_runs(sizes.runs)} at {small.size:,})"
    )
    bound = f"max_pending={sizes.backpressure_bound:,}"
    none = f"Flock has no bound on publish (unbounded, {small.size:,} inputs: next rows)"
    few = f"no bound (Flock has none), {small.size:,} inputs"
    return [
        Row(name, f"peak RSS (MiB), {bound}", series(bounded, "peak_mb"), none, series(unbounded, "peak_mb"),
            "no bound", note=_BACKPRESSURE_NOTE),
        Row(name, f"RSS growth over the run (MiB), {bound}", _growth(bounded), none, _growth(unbounded), "no bound"),
        Row(name, f"RSS growth over the second half (MiB), {bound}", _second_half(bounded), none,
            _second_half(unbounded), "no bound", note=_FLAT_NOTE),
        Row(name, f"inputs/s, {bound}", series(bounded, "inputs_per_s"), none, series(unbounded, "inputs_per_s"),
            "no bound"),
        Row(name, f"peak RSS (MiB), {few}", series(ours_small, "peak_mb"), series(flock_small, "peak_mb"),
            note=_FLOCK_STREAM_NOTE),
        Row(name, f"inputs/s, {few}", series(ours_small, "inputs_per_s"), series(flock_small, "inputs_per_s")),
    ]  # fmt: skip


def _runs(count: int) -> str:
    return f"{count} run" if count == 1 else f"{count} runs"


def _growth(outcome: list[Outcome] | str) -> Cell:
    if isinstance(outcome, str):
        return outcome
    return Figure.of(o.series["peak_mb"][0] - o.series["baseline_mb"][0] for o in outcome)


def _second_half(outcome: list[Outcome] | str) -> Cell:
    if isinstance(outcome, str):
        return outcome
    return Figure.of(o.series["peak_mb"][0] - o.series["half_mb"][0] for o in outcome)


_FLAT_NOTE = (
    "peak RSS after the last input minus peak RSS when half of the inputs were published: ~0 means flat "
    "(nothing kept per input); without a bound it is the second half's queue"
)

_BACKPRESSURE_NOTE = (
    "ru_maxrss of one process per run; the artifacts live in the SQLite file, so RSS is the run's own state: "
    "without a bound every input is queued (with its artifact) before the first activation runs"
)


_FLOCK_STREAM_NOTE = (
    "the same pipeline, engine and SQLite board on both sides, without a bound (Flock has none); Flock runs it once "
    "and at this size only: each of its activations reads the whole board, so its rate falls as the board grows "
    "(a few inputs/s here) and 100,000 inputs would take hours; peak RSS includes each side's imports"
)


WORKLOADS: dict[str, Callable[[Bench], list[Row]]] = {
    "overhead": overhead,
    "latency": latency_bound,
    "cold_start": cold_start,
    "memory": memory,
    "durable": durable,
    "scaling": worker_scaling,
    "security": security,
    "backpressure": backpressure,
}
