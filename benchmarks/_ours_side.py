"""This framework's side of every workload, run by `benchmarks._driver` in its own process.

Each workload takes a `Job` and the `time.perf_counter()` at which the driver process started, and
returns an `Outcome` with one value per run in each series. The smoke tests call these functions directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib.util
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Coroutine, Generator
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from engines import DSPyEngine
from flock_core import BlackboardStore, EvaluationRequest, Flock, InMemoryBlackboardStore, WorkflowError, __version__
from flock_core.testing import FunctionEngine

from ._backpressure import backpressure
from ._dspy_floor import makespan_dspy
from ._floors import durable_floor, durable_statement, http_floor, makespan_floor, memory_floor, overhead_floor
from ._payloads import CALLS_PER_WORKFLOW, FAN_OUT, MODELS, STAGES, Note, Review, Topic, advance, note
from ._protocol import Job, Outcome, WorkloadName
from ._rss import peak_rss_mb
from ._scaling import scaling
from ._security import flow_cost, http_publish
from ._stages import overhead_stages

__all__ = ["WORKLOADS", "drop_schema", "pipeline", "postgres_problem", "step", "store_for"]

Workload = Callable[[Job, float], Coroutine[Any, Any, Outcome]]


def step(request: EvaluationRequest) -> list[BaseModel]:
    """The deterministic engine of the pipeline: the next stage's payload."""
    return [advance(request.payloads[0])]


def pipeline(flock: Flock, *, fan_out: int) -> Flock:
    """Declare the 3-stage pipeline (stage 1 publishes `fan_out` outputs per input)."""
    for model in MODELS:
        flock.register_type(model)
    for index, stage in enumerate(STAGES):
        builder = flock.agent(stage.agent).description(stage.description).consumes(stage.consumes)
        builder.publishes(stage.publishes, fan_out=fan_out if index == 0 else 1)
    return flock


def _info(outcome: Outcome) -> Outcome:
    outcome.info.update(framework="flockboard", version=__version__, python=sys.version.split()[0])
    return outcome


async def _expect(flock: Flock, model: type[BaseModel], count: int) -> None:
    """Fail the workload unless the board holds `count` payloads of `model` and no workflow error."""
    found, errors = len(await flock.get_by_type(model)), len(await flock.get_by_type(WorkflowError))
    if found != count or errors:
        raise RuntimeError(f"expected {count} {model.__name__} and no error, found {found} and {errors} error(s)")


async def overhead(job: Job, started: float) -> Outcome:
    """Throughput of the 3-stage pipeline with a deterministic engine: `job.size` topics per run, on `job.store`."""
    del started
    outcome = Outcome()
    for _ in range(job.runs):
        gc.collect()
        with store_for(job) as store:
            engine = FunctionEngine(step)
            flock = pipeline(Flock(store=store, engine=engine, max_concurrency=job.concurrency), fan_out=1)
            await flock.start()
            begin = time.perf_counter()
            for i in range(job.size):
                await flock.publish(Topic(name=f"topic {i}"))
            await flock.run_until_idle(timeout=300)
            elapsed = time.perf_counter() - begin
            await _expect(flock, Review, job.size)
            await flock.shutdown()
        outcome.add("artifacts_per_s", job.size / elapsed)
        outcome.add("us_per_activation", elapsed / (len(STAGES) * job.size) * 1e6)
        del flock  # collected before the next run starts its clock
    return _info(outcome)


def _lm_engine(job: Job) -> DSPyEngine:
    return DSPyEngine("openai/bench", api_base=job.base_url, api_key="sk-bench", num_retries=0)


async def makespan(job: Job, started: float) -> Outcome:
    """Wall time of one topic through the pipeline with fan-out 20 on the DSPy engine and the fake model.

    All runs share one board, so every run after the first has earlier workflows on it.
    """
    del started
    outcome = Outcome()
    flock = pipeline(Flock(engine=_lm_engine(job), max_concurrency=job.concurrency), fan_out=FAN_OUT)
    for run in range(job.warmup + job.runs):
        window_start, begin, cpu = time.time(), time.perf_counter(), time.process_time()
        await flock.publish(Topic(name=f"topic {run}"))
        await flock.run_until_idle(timeout=120)
        elapsed, cpu = time.perf_counter() - begin, time.process_time() - cpu
        outcome.windows.append((window_start, time.time()))
        await _expect(flock, Review, FAN_OUT * (run + 1))
        if run >= job.warmup:
            outcome.add("makespan_s", elapsed)
            outcome.add("cpu_ms_per_call", cpu / CALLS_PER_WORKFLOW * 1000)
    return _info(outcome)


async def first_output(job: Job, started: float) -> Outcome:
    """From the start of the process (before importing the framework) to the first output on the board."""
    outcome = Outcome()
    engine = _lm_engine(job) if job.lm else FunctionEngine(step)
    flock = Flock(engine=engine)
    for model in MODELS:
        flock.register_type(model)
    stage = STAGES[0]
    flock.agent(stage.agent).description(stage.description).consumes(stage.consumes).publishes(stage.publishes)
    await flock.publish(Topic(name="first"))
    await flock.run_until_idle(timeout=120)
    await _expect(flock, stage.publishes, 1)
    outcome.add("first_output_s", time.perf_counter() - started)
    return _info(outcome)


async def memory(job: Job, started: float) -> Outcome:
    """Peak RSS after `job.size` artifacts on the in-memory board (one run per process)."""
    del started
    outcome = Outcome()
    flock = Flock(engine=FunctionEngine(step))
    flock.register_type(Note)
    await flock.start()
    outcome.add("baseline_mb", peak_rss_mb())
    begin = time.perf_counter()
    for i in range(job.size):
        await flock.publish(note(i))
    await flock.run_until_idle()
    outcome.add("publish_s", time.perf_counter() - begin)
    await _expect(flock, Note, job.size)
    outcome.add("peak_mb", peak_rss_mb())
    return _info(outcome)


def postgres_problem(dsn: str) -> str | None:
    """Why the PostgreSQL store cannot run here (no store module, no driver, no server), or `None`."""
    if importlib.util.find_spec("flock_core.blackboard.postgres._store") is None:
        return "not available yet (no flock_core.blackboard.postgres._store)"
    try:
        import psycopg
    except ImportError:
        return "not available (psycopg is not installed)"
    try:
        with psycopg.connect(dsn, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as error:
        return f"not available (no server at {dsn}: {str(error).strip().splitlines()[0]})"
    return None


@contextlib.contextmanager
def store_for(job: Job) -> Generator[BlackboardStore]:
    """A fresh store of `job.store`'s kind (closed by `Flock.shutdown`), then removed: SQLite file, PG schema."""
    if job.store == "memory":
        yield InMemoryBlackboardStore()
    elif job.store == "sqlite":
        from flock_core import SQLiteBlackboardStore

        with tempfile.TemporaryDirectory(prefix="flock-bench-") as folder:
            yield SQLiteBlackboardStore(Path(folder) / "board.db")
    else:
        from flock_core.blackboard.postgres._store import PostgresBlackboardStore

        schema = f"flock_bench_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        try:
            yield PostgresBlackboardStore(job.dsn, schema=schema)
        finally:
            drop_schema(job.dsn, schema)


def drop_schema(dsn: str, schema: str) -> None:
    """Drop a benchmark's PostgreSQL schema and everything in it."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def _review(request: EvaluationRequest) -> list[BaseModel]:
    return [Review(verdict=f"seen {request.payloads[0]}", stars=1)]


async def _publish_notes(flock: Flock, first: int, job: Job) -> None:
    """One of `job.clients` publishers: notes `first`, `first + clients`, ... (one at a time)."""
    for i in range(first, job.size, job.clients):
        await flock.publish(note(i))


async def _publish_all(flock: Flock, job: Job) -> None:
    """Publish the notes from `job.clients` publishers; one publishes from the calling task.

    Not from a task of its own: Flock runs its agents while a publishing task yields, but not while its
    `asyncio.run` task does, so the publish rate would include its activations (the same driver on both
    sides, see `_flock_side`).
    """
    if job.clients == 1:
        await _publish_notes(flock, 0, job)
    else:
        await asyncio.gather(*(_publish_notes(flock, k, job) for k in range(job.clients)))


async def durable(job: Job, started: float) -> Outcome:
    """Publish `job.size` notes that each activate one agent, then run them, on `job.store`."""
    del started
    outcome = Outcome()
    if job.store == "postgres" and (problem := postgres_problem(job.dsn)) is not None:
        outcome.info["unavailable"] = problem
        return _info(outcome)
    for _ in range(job.runs):
        gc.collect()
        with store_for(job) as store:
            flock = Flock(store=store, engine=FunctionEngine(_review), max_concurrency=job.concurrency)
            flock.register_type(Note)
            flock.register_type(Review)
            flock.agent("reviewer").consumes(Note).publishes(Review)
            await flock.start()
            begin = time.perf_counter()
            await _publish_all(flock, job)
            published = time.perf_counter()
            await flock.run_until_idle(timeout=300)
            done = time.perf_counter()
            await _expect(flock, Review, job.size)
            await flock.shutdown()
        outcome.add("publish_per_s", job.size / (published - begin))
        outcome.add("end_to_end_per_s", job.size / (done - begin))
    return _info(outcome)


WORKLOADS: dict[WorkloadName, Workload] = {
    "overhead": overhead,
    "overhead_floor": overhead_floor,
    "overhead_stages": overhead_stages,
    "makespan": makespan,
    "makespan_floor": makespan_floor,
    "makespan_dspy": makespan_dspy,
    "first_output": first_output,
    "memory": memory,
    "memory_floor": memory_floor,
    "durable_floor": durable_floor,
    "durable_statement": durable_statement,
    "http_floor": http_floor,
    "durable": durable,
    "scaling": scaling,
    "http_publish": http_publish,
    "flow_cost": flow_cost,
    "backpressure": backpressure,
}
