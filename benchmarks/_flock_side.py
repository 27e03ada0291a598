"""Flock's side of every workload, written against Flock's public API; run in Flock's own virtualenv.

Nothing of Flock is copied here: the workloads mirror `_ours_side` using `Flock`, `flock_type`,
`agent(...).consumes(...).publishes(...)`, `publish`, `run_until_idle`, a custom `EngineComponent` for the
deterministic engine and Flock's `DSPyEngine` pointed at the fake model server. Flock is configured for
speed (no console output, no streaming, per-agent concurrency raised to `Job.concurrency`); the
orchestrator sets `FLOCK_AUTO_TRACE` to choose between Flock's default tracing and none.
"""
# This module runs only under Flock's interpreter (Python 3.12+), where `flock` is installed; the project's
# environment has no `flock`, and Flock's API is unannotated, so strict checking cannot apply here.
# pyright: basic, reportMissingImports=false

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib.metadata
import logging
import os
import socket
import sys
import tempfile
import time
from pathlib import Path

import httpx
from flock import DSPyEngine, Flock, flock_type
from flock.components.agent import EngineComponent
from flock.core.store import SQLiteBlackboardStore
from flock.registry import type_registry
from flock.utils.runtime import EvalResult

from ._http_client import http_parser, publish_requests
from ._payloads import CALLS_PER_WORKFLOW, FAN_OUT, MODEL_LATENCY, MODELS, STAGES, Note, Review, Topic, advance, note
from ._protocol import Outcome
from ._rss import peak_rss_mb

__all__ = ["WORKLOADS"]

for _model in MODELS:
    flock_type(_model)


class _Advance(EngineComponent):
    """The deterministic engine: the same `advance` step as ours, on the input artifact's payload."""

    async def evaluate(self, agent, ctx, inputs, output_group):
        artifact = inputs.artifacts[0]
        payload = type_registry.resolve(artifact.type)(**artifact.payload)
        return EvalResult.from_object(advance(payload), agent=agent)


class _Review(EngineComponent):
    async def evaluate(self, agent, ctx, inputs, output_group):
        payload = Note(**inputs.artifacts[0].payload)
        return EvalResult.from_object(Review(verdict=f"seen {payload}", stars=1), agent=agent)


def _lm_engine(job):
    lm = {"api_base": job.base_url, "api_key": "sk-bench"}
    return DSPyEngine(model="openai/bench", lm_kwargs=lm, stream=False, no_output=True)


def _pipeline(job, engine_factory, *, fan_out, store=None):
    flock = Flock(store=store, no_output=True)
    for index, stage in enumerate(STAGES):
        builder = flock.agent(stage.agent).description(stage.description).consumes(stage.consumes)
        builder.publishes(stage.publishes, fan_out=fan_out if index == 0 else None)
        builder.with_engines(engine_factory()).max_concurrency(job.concurrency)
    return flock


def _info(outcome):
    outcome.info.update(
        framework="flock-core",
        version=importlib.metadata.version("flock-core"),
        python=sys.version.split()[0],
        auto_trace=os.environ.get("FLOCK_AUTO_TRACE", "true"),
    )
    return outcome


async def _expect(flock, model, count):
    found = len(await flock.store.get_by_type(model))
    if found != count:
        raise RuntimeError(f"expected {count} {model.__name__}, found {found}")


_SQLITE_PIPELINE_LIMIT = 120.0
"""Seconds one run of the pipeline gets on Flock's SQLite store before it is reported as unfinished."""


async def _overhead_run(job, store):
    flock = _pipeline(job, _Advance, fan_out=None, store=store)
    begin = time.perf_counter()
    for i in range(job.size):
        await flock.publish(Topic(name=f"topic {i}"))
    await flock.run_until_idle()
    elapsed = time.perf_counter() - begin
    await _expect(flock, Review, job.size)
    await flock.shutdown()
    return elapsed


async def _closing(store, run):
    """Await `run`, then close `store`: its aiosqlite thread would otherwise keep the process from exiting."""
    try:
        return await run
    finally:
        await store.close()


async def overhead(job, started):
    del started
    outcome = Outcome()
    for _ in range(job.runs):
        gc.collect()
        with tempfile.TemporaryDirectory(prefix="flock-bench-") as folder:
            if job.store != "sqlite":
                elapsed = await _overhead_run(job, None)
            else:
                store = SQLiteBlackboardStore(str(Path(folder) / "board.db"))
                try:
                    run = asyncio.wait_for(_overhead_run(job, store), _SQLITE_PIPELINE_LIMIT)
                    elapsed = await _closing(store, run)
                except TimeoutError:
                    outcome.info["unavailable"] = (
                        f"did not finish {job.size} inputs within {_SQLITE_PIPELINE_LIMIT:.0f} s on its SQLite store"
                    )
                    return _info(outcome)
        outcome.add("artifacts_per_s", job.size / elapsed)
        outcome.add("us_per_activation", elapsed / (len(STAGES) * job.size) * 1e6)
    return _info(outcome)


async def makespan(job, started):
    del started
    outcome = Outcome()
    flock = _pipeline(job, lambda: _lm_engine(job), fan_out=FAN_OUT)
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


async def first_output(job, started):
    outcome = Outcome()
    flock = Flock(no_output=True)
    stage = STAGES[0]
    engine = _lm_engine(job) if job.lm else _Advance()
    flock.agent(stage.agent).description(stage.description).consumes(stage.consumes).publishes(
        stage.publishes
    ).with_engines(engine)
    await flock.publish(Topic(name="first"))
    await flock.run_until_idle(timeout=120)
    await _expect(flock, stage.publishes, 1)
    outcome.add("first_output_s", time.perf_counter() - started)
    return _info(outcome)


async def memory(job, started):
    del started
    outcome = Outcome()
    flock = Flock(no_output=True)
    outcome.add("baseline_mb", peak_rss_mb())
    begin = time.perf_counter()
    for i in range(job.size):
        await flock.publish(note(i))
    await flock.run_until_idle()
    outcome.add("publish_s", time.perf_counter() - begin)
    await _expect(flock, Note, job.size)
    outcome.add("peak_mb", peak_rss_mb())
    return _info(outcome)


async def _publish_notes(flock, first, job):
    for i in range(first, job.size, job.clients):
        await flock.publish(note(i))


async def _publish_all(flock, job):
    """Publish from the calling task when there is one publisher (see `_ours_side._publish_all`)."""
    if job.clients == 1:
        await _publish_notes(flock, 0, job)
    else:
        await _publish_all(flock, job)


async def durable(job, started):
    del started
    outcome = Outcome()
    if job.store == "postgres":
        outcome.info["unavailable"] = "Flock ships no PostgreSQL store"
        return _info(outcome)
    for _ in range(job.runs):
        gc.collect()
        with tempfile.TemporaryDirectory(prefix="flock-bench-") as folder:
            if job.store == "sqlite":
                store = SQLiteBlackboardStore(str(Path(folder) / "board.db"))
                publishing, end_to_end = await _closing(store, _durable_run(job, store))
            else:
                publishing, end_to_end = await _durable_run(job, None)
        outcome.add("publish_per_s", job.size / publishing)
        outcome.add("end_to_end_per_s", job.size / end_to_end)
    return _info(outcome)


async def _durable_run(job, store):
    """Seconds to publish `job.size` notes, and to have them all reviewed, on `store` (`None`: in memory)."""
    flock = Flock(store=store, no_output=True)
    flock.agent("reviewer").consumes(Note).publishes(Review).with_engines(_Review()).max_concurrency(job.concurrency)
    begin = time.perf_counter()
    await _publish_all(flock, job)
    published = time.perf_counter()
    await flock.run_until_idle(timeout=300)
    done = time.perf_counter()
    await _expect(flock, Review, job.size)
    await flock.shutdown()
    return published - begin, done - begin


class _Model(EngineComponent):
    """The back-pressure workload's engine: sleeps like a model call, then the same `advance` step."""

    async def evaluate(self, agent, ctx, inputs, output_group):
        await asyncio.sleep(MODEL_LATENCY)
        artifact = inputs.artifacts[0]
        payload = type_registry.resolve(artifact.type)(**artifact.payload)
        return EvalResult.from_object(advance(payload), agent=agent)


_STREAM_LIMIT = 300.0
"""Seconds Flock gets for the back-pressure workload before it is reported as unfinished."""


async def _stream(job, flock):
    begin = time.perf_counter()
    for i in range(job.size):
        await flock.publish(Topic(name=f"topic {i}"))
    await flock.run_until_idle()
    return time.perf_counter() - begin


async def backpressure(job, started):
    """Ours' back-pressure workload on Flock's SQLite store; Flock has no bound, so it always runs unbounded."""
    del started
    outcome = Outcome()
    with tempfile.TemporaryDirectory(prefix="flock-bench-") as folder:
        store = SQLiteBlackboardStore(str(Path(folder) / "board.db"))
        flock = _pipeline(job, _Model, fan_out=None, store=store)
        outcome.add("baseline_mb", peak_rss_mb())
        try:
            elapsed = await asyncio.wait_for(_stream(job, flock), _STREAM_LIMIT)
        except TimeoutError:
            outcome.info["unavailable"] = f"did not finish {job.size:,} inputs within {_STREAM_LIMIT:.0f} s"
            await store.close()
            return _info(outcome)
        except BaseException:
            await store.close()  # its aiosqlite thread would keep the process from exiting and reporting this
            raise
        outcome.add("peak_mb", peak_rss_mb())
        outcome.add("inputs_per_s", job.size / elapsed)
        await _closing(store, _finish(flock, job))
    outcome.info.update(inputs=job.size, max_pending=0)
    return _info(outcome)


async def _finish(flock, job):
    await _expect(flock, Review, job.size)
    await flock.shutdown()


async def _serve(flock):
    """Flock's REST API on a free loopback port (its own `serve`, non-blocking); its base URL and task."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    logging.getLogger("uvicorn.access").addFilter(lambda _record: False)  # ours logs no access lines either
    task = await flock.serve(host="127.0.0.1", port=port, blocking=False)
    base_url = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=base_url) as client:
        for _ in range(200):  # up to 10 s for uvicorn to listen
            try:
                await client.get("/health")
                return base_url, task
            except httpx.TransportError:
                await asyncio.sleep(0.05)
    raise RuntimeError(f"Flock's server did not start on {base_url}")


async def http_publish(job, started):
    del started
    outcome = Outcome()
    if job.store != "memory":
        outcome.info["unavailable"] = "Flock ships no PostgreSQL store"
        return _info(outcome)
    for _ in range(job.runs):
        flock = Flock(no_output=True)
        base_url, task = await _serve(flock)
        try:
            gc.collect()
            elapsed = await publish_requests(base_url, job.size, job.clients)
            await _expect(flock, Note, job.size + job.clients)  # the warm-up requests publish too
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await flock.shutdown()
        outcome.add("requests_per_s", job.size / elapsed)
        outcome.add("ms_per_request", elapsed / job.size * 1000)
    outcome.info["http_parser"] = http_parser()
    return _info(outcome)


WORKLOADS = {
    "backpressure": backpressure,
    "http_publish": http_publish,
    "overhead": overhead,
    "makespan": makespan,
    "first_output": first_output,
    "memory": memory,
    "durable": durable,
}
