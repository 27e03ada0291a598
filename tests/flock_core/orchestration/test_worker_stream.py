"""`flock worker --stream`: the tokens of the activations a worker process runs reach its stdout.

The worker runs `workers/storyteller.py` on a PostgreSQL schema; this process publishes a prompt on the
same board and reads the worker's output.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import anyio
from pydantic import BaseModel

from flock_core import Flock
from flock_core.blackboard.postgres._store import PostgresBlackboardStore

from ..conftest import PG_DSN

WORKERS = Path(__file__).with_name("workers")
CHILD_SECONDS = 60.0


class Prompt(BaseModel):
    topic: str


async def publish(schema: str, topic: str) -> None:
    flock = Flock(store=PostgresBlackboardStore(PG_DSN, schema=schema))
    flock.register_type(Prompt)
    async with flock:
        await flock.publish(Prompt(topic=topic))


def stream_of_worker(schema: str, *options: str, until: str) -> list[str]:
    """Start `flock worker storyteller:flock`, publish a prompt, read stdout until the line `until`, stop it."""
    child = subprocess.Popen(
        [sys.executable, "-m", "flock_core.cli._worker", "worker", "storyteller:flock", "--progress", "off", *options],
        cwd=WORKERS,
        env={**os.environ, "FLOCK_PG_DSN": PG_DSN, "FLOCK_PG_SCHEMA": schema},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    watchdog = threading.Timer(CHILD_SECONDS, child.kill)
    watchdog.start()
    lines: list[str] = []
    assert child.stdout is not None
    assert child.stderr is not None
    try:
        assert child.stderr.readline().startswith("flock worker "), "the worker did not start"
        anyio.run(publish, schema, "dragon")
        for line in iter(child.stdout.readline, ""):
            lines.append(line.rstrip("\n"))
            if line.rstrip("\n") == until:
                break
        child.send_signal(signal.SIGTERM)
        child.wait(timeout=30)
    finally:
        watchdog.cancel()
        child.stdout.close()
        child.stderr.close()
    assert child.returncode == 0, f"the worker ended with {child.returncode}"
    return lines


def test_flock_worker_stream_prints_the_tokens_of_the_work_it_runs(pg_schema: str) -> None:
    lines = stream_of_worker(pg_schema, "--stream", until="writer#1 | there was a dragon.")
    assert lines == ["writer#1 | Once upon a time", "writer#1 | there was a dragon."]
