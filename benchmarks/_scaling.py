"""Worker scaling: throughput of 1, 2 and 4 `flock worker` processes on one PostgreSQL board.

The driver process starts `job.workers` real `flock worker benchmarks._scaling_app:flock --concurrency C`
processes (the installed console script, as a user would), publishes `job.size` topics from a Flock that
claims no work, and times until every topic's last output is stored. The work is latency-bound: each
activation is one call through the DSPy engine to the fake model (`job.base_url`, 100 ms in `make bench`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Generator
from pathlib import Path

import anyio

from ._payloads import Topic
from ._protocol import Job, Outcome

__all__ = ["scaling"]

ROOT = Path(__file__).resolve().parents[1]
_START_TIMEOUT = 120.0


def _count(dsn: str, schema: str, type_name: str) -> int:
    import psycopg
    from psycopg import sql

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("SET search_path = {}").format(sql.Identifier(schema)))
        row = conn.execute("SELECT count(*) FROM artifacts WHERE type = %s", (type_name,)).fetchone()
    return int(row[0]) if row else 0


@contextlib.contextmanager
def _workers(job: Job, schema: str) -> Generator[None]:
    """`job.workers` worker processes, each serving (its start-up line printed) before this yields."""
    flock_script = Path(sys.executable).with_name("flock")
    command = [str(flock_script), "worker", "benchmarks._scaling_app:flock", "--concurrency", str(job.concurrency)]
    env = {**os.environ, "FLOCK_PG_DSN": job.dsn, "FLOCK_BENCH_SCHEMA": schema, "FLOCK_BENCH_BASE_URL": job.base_url}
    with tempfile.TemporaryDirectory(prefix="flock-bench-workers-") as folder, contextlib.ExitStack() as files:
        logs = [Path(folder) / f"worker{n}.log" for n in range(job.workers)]
        children = [
            subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=files.enter_context(log.open("w"))
            )
            for log in logs
        ]
        try:
            deadline = time.monotonic() + _START_TIMEOUT
            while not all("serving" in log.read_text() for log in logs):
                for child, log in zip(children, logs, strict=True):
                    if child.poll() is not None:
                        raise RuntimeError(f"a worker exited with {child.returncode}: {log.read_text()[-2000:]}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"workers did not start within {_START_TIMEOUT:.0f} s")
                time.sleep(0.05)
            yield
        finally:
            for child in children:
                child.send_signal(signal.SIGTERM)
            for child in children:
                try:
                    child.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    child.kill()
                    child.wait()


async def _until(dsn: str, schema: str, type_name: str, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while _count(dsn, schema, type_name) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"fewer than {count} {type_name} after {timeout:.0f} s")
        await anyio.sleep(0.02)


async def scaling(job: Job, started: float) -> Outcome:
    """Throughput of `job.workers` workers: `job.warmup` unmeasured rounds, then `job.runs` measured ones."""
    del started
    from ._ours_side import drop_schema, postgres_problem
    from ._scaling_app import OUTPUT, SCALED_STAGES, build

    outcome = Outcome()
    if (problem := postgres_problem(job.dsn)) is not None:
        outcome.info["unavailable"] = problem
        return outcome
    schema = f"flock_bench_scaling_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    publisher = build(job.dsn, schema, job.base_url)
    try:
        await publisher.start()  # creates the schema before the workers race for it
        with _workers(job, schema):
            done = 0
            for run in range(job.warmup + job.runs):
                size = job.workers * job.concurrency if run < job.warmup else job.size
                begin = time.perf_counter()
                await publisher.publish_many([Topic(name=f"topic {run}.{i}") for i in range(size)])
                done += size
                await _until(job.dsn, schema, OUTPUT.__name__, done, timeout=300)
                elapsed = time.perf_counter() - begin
                if run >= job.warmup:
                    outcome.add("activations_per_s", size * len(SCALED_STAGES) / elapsed)
    finally:
        await publisher.shutdown()
        drop_schema(job.dsn, schema)
    outcome.info.update(workers=job.workers, concurrency=job.concurrency)
    return outcome
