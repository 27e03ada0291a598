"""Acceptance: a run killed as PID 1 and resumed as PID 1 (a container restart) does all its work, once.

A lease's owner is never judged alive from its process id: both runs are PID 1 of a new PID namespace
(`unshare -fp --mount-proc`, which needs root, as in CI), so the dead run's leases name the resuming
run's own process id.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import anyio
import pytest

from flock_core import ArtifactQuery, Flock, SQLiteBlackboardStore

SCRIPT = Path(__file__).with_name("pid1_editor.py")
DRAFTS = 60

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("unshare") is None, reason="a new PID namespace needs root and unshare(1)"
)


def as_pid1(mode: str, path: Path) -> subprocess.CompletedProcess[str]:
    command = ["unshare", "-fp", "--mount-proc", sys.executable, str(SCRIPT), mode, str(path)]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


async def inspect(path: Path) -> tuple[list[tuple[str, str, str | None]], Counter[str], list[str]]:
    """`(work as (status, correlation id, owner), edits by text, states of the leased items' workflows)`."""
    store = SQLiteBlackboardStore(path)
    work = [(r.status, r.correlation_id, r.lease_owner) for r in await store.work()]
    page = await store.query(ArtifactQuery(types=frozenset({"Edit"})))
    flock = Flock(store=store)  # never started: it only reads
    leased = sorted({cid for status, cid, _ in work if status == "leased"})
    states = [(await flock.get_correlation_status(cid)).state for cid in leased]
    await store.close()
    return work, Counter(str(a.payload["text"]) for a in page.items), states


def test_a_run_killed_as_pid_1_is_resumed_by_pid_1_with_all_work_done_once(tmp_path: Path) -> None:
    path = tmp_path / "board.db"
    crashed = as_pid1("crash", path)
    assert crashed.returncode == 1, crashed.stderr
    work, edits, states = anyio.run(inspect, path)
    owners = {owner for status, _, owner in work if status == "leased"}
    done = sum(1 for status, _, _ in work if status == "done")
    assert owners, "edits were leased and running when the run died"
    assert {owner.split("/")[1] for owner in owners if owner} == {"1"}, "... in PID 1"
    assert set(states) == {"active"}, "a workflow with leased work is not completed"
    assert sum(edits.values()) == done

    resumed = as_pid1("resume", path)
    assert resumed.returncode == 0, resumed.stderr
    work, edits, _ = anyio.run(inspect, path)

    assert json.loads(resumed.stdout) == {"pid": 1, "resumed": DRAFTS - done, "skipped": 0, "states": ["completed"]}
    assert edits == Counter({f"DRAFT {n}": 1 for n in range(DRAFTS)}), "every draft edited, each edit stored once"
    assert Counter(status for status, _, _ in work) == Counter({"done": DRAFTS}), "nothing left leased or pending"
