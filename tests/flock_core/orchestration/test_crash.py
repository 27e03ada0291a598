"""Acceptance: a run killed with SIGKILL at random points and resumed ends with the board of an uninterrupted run.

`crash_pipeline.py` runs in a child process on a SQLite file (fan-out, a join and a count gate). The parent
kills it at seeded random points: while it seeds its topics, or after a random number of finished
activations plus a random few milliseconds (so the kill lands inside an activation or a commit). Then it
starts the same command again, which resumes, and kills that one too, until a lifetime runs to idle.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import anyio
import pytest

from flock_core import ArtifactQuery
from flock_core.blackboard.sqlite._store import SQLiteBlackboardStore

SCRIPT = Path(__file__).with_name("crash_pipeline.py")
TOPICS = 4
KILL_POINTS = 24
CHILD_SECONDS = 60.0
MIN_ACTIVATIONS = 4
"""A lifetime is killed after at least this many finished activations: by then the (up to 3) activations the
previous kill interrupted have finished, so none is interrupted often enough to exhaust its attempts."""

Signature = Counter[tuple[str, str, str, tuple[tuple[str, str], ...]]]
Trigger = Callable[["Progress"], bool]


@dataclass(slots=True)
class Progress:
    """What one child lifetime reported so far."""

    seeded: int = 0
    activations: int = 0


def run_child(path: Path, trigger: Trigger | None, delay: float, log: Path) -> bool:
    """Run the pipeline on `path`; SIGKILL it `delay` s after `trigger` holds. Returns whether it was killed."""
    with log.open("a") as stderr:
        child = subprocess.Popen(
            [sys.executable, str(SCRIPT), str(path), str(TOPICS)], stdout=subprocess.PIPE, stderr=stderr, text=True
        )
    watchdog = threading.Timer(CHILD_SECONDS, child.kill)
    watchdog.start()
    progress, finished = Progress(), set[tuple[str, ...]]()
    assert child.stdout is not None
    try:
        for line in iter(child.stdout.readline, ""):
            kind, *fields = line.split()
            if kind == "stored" and fields[0] == "external":
                progress.seeded += 1
            elif kind == "stored":
                finished.add(tuple(fields))
                progress.activations = len(finished)
            if trigger is not None and trigger(progress):
                time.sleep(delay)
                os.kill(child.pid, signal.SIGKILL)
                child.wait()
                return True
        child.wait()
    finally:
        watchdog.cancel()
        child.stdout.close()
    assert child.returncode == 0, f"child failed with {child.returncode}; see {log.read_text()}"
    return False


async def board(path: Path) -> tuple[Signature, list[str]]:
    """The board as a multiset of (type, payload, producer, inputs by type and payload), and work statuses."""
    store = SQLiteBlackboardStore(path)
    items = (await store.query(ArtifactQuery())).items
    statuses = [record.status for record in await store.work()]
    await store.close()
    label = {a.id: (a.type, json.dumps(a.payload, sort_keys=True)) for a in items}
    signature: Signature = Counter(
        (*label[a.id], a.produced_by, tuple(sorted(label[i] for i in a.consumed_from))) for a in items
    )
    return signature, statuses


@pytest.mark.slow
def test_killed_and_resumed_runs_end_with_the_uninterrupted_board(tmp_path: Path) -> None:
    log = tmp_path / "children.log"
    run_child(tmp_path / "reference.db", None, 0.0, log)
    expected, expected_statuses = anyio.run(board, tmp_path / "reference.db")
    assert sum(expected.values()) == TOPICS * (1 + 3 + 3 + 3 + 1)
    assert set(expected.values()) == {1}, "the reference board has no duplicates"
    assert set(expected_statuses) == {"done"}
    assert "WorkflowError" not in {key[0] for key in expected}

    rng = random.Random(1234)
    kills: list[tuple[int, str, int, float]] = []
    for run in range(20):
        if len(kills) >= KILL_POINTS:
            break
        path = tmp_path / f"run{run}.db"
        lifetime = 0
        while True:
            delay = rng.uniform(0.0, 0.006)
            if lifetime == 0 and run % 3 == 0:
                point, kind = rng.randint(1, TOPICS - 1), "seeding"
                trigger: Trigger = lambda p, n=point: p.seeded >= n  # noqa: E731
            else:
                point, kind = rng.randint(MIN_ACTIVATIONS, 10), "activations"
                trigger = lambda p, n=point: p.activations >= n  # noqa: E731
            if not run_child(path, trigger, delay, log):
                break
            kills.append((run, kind, point, delay))
            lifetime += 1
        signature, statuses = anyio.run(board, path)
        assert signature == expected, f"run {run} after kills {[k for k in kills if k[0] == run]}"
        assert (set(statuses), len(statuses)) == ({"done"}, len(expected_statuses))
    assert len(kills) >= KILL_POINTS
    assert len(set(kills)) == len(kills), "every kill point is different"
