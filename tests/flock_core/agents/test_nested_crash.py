"""Acceptance: an outer process killed with SIGKILL in the middle of a nested run continues the inner workflow.

`nested_crash_child.py` runs a nested workflow with both boards in SQLite files and is killed while the
second inner agent runs. Started again, the resumed outer activation finds the inner workflow it had
started (its correlation id comes from the outer work) and continues it: the inner agent that had already
finished is not run again.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import anyio

from flock_core import ArtifactQuery, SQLiteBlackboardStore
from flock_core.agents._nested import NESTED_TAG

SCRIPT = Path(__file__).with_name("nested_crash_child.py")
CHILD_SECONDS = 60.0


def run_child(directory: Path, lifetime: str, *, kill_at: str | None = None) -> list[str]:
    """Run one lifetime; SIGKILL it when it prints `kill_at`. Returns the lines it printed."""
    child = subprocess.Popen(
        [sys.executable, str(SCRIPT), str(directory), lifetime],
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
        for line in iter(child.stdout.readline, ""):
            lines.append(line.strip())
            if line.strip() == kill_at:
                os.kill(child.pid, signal.SIGKILL)
                break
        child.wait()
        errors = child.stderr.read()
    finally:
        watchdog.cancel()
        child.stdout.close()
        child.stderr.close()
    expected = -signal.SIGKILL if kill_at else 0
    assert child.returncode == expected, f"child ended with {child.returncode}: {errors}"
    return lines


async def inner_workflows(path: Path) -> set[str]:
    store = SQLiteBlackboardStore(path)
    try:
        return {a.correlation_id for a in (await store.query(ArtifactQuery())).items}
    finally:
        await store.close()


async def nested_copies(path: Path) -> list[str]:
    store = SQLiteBlackboardStore(path)
    try:
        return sorted(
            f"{a.type} by {a.produced_by}" for a in (await store.query(ArtifactQuery())).items if NESTED_TAG in a.tags
        )
    finally:
        await store.close()


def test_a_resumed_outer_activation_continues_its_inner_workflow(tmp_path: Path) -> None:
    first = run_child(tmp_path, "first", kill_at="blocking")
    assert first == ["call look_up", "call judge", "blocking"]

    second = run_child(tmp_path, "second")
    assert second == ["call judge", "verdict the Moon orbits the Earth True"]  # look_up is not run again
    [inner] = anyio.run(inner_workflows, tmp_path / "inner.db")  # one inner workflow, continued
    assert inner.startswith("research/fact_check/")
    copies = anyio.run(nested_copies, tmp_path / "outer.db")
    assert copies == ["Claim by fact_check", "Evidence by look_up", "Verdict by judge"]
