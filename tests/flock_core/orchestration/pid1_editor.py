"""A run on a SQLite board that dies mid-way (`crash`), or resumes it (`resume`): run as PID 1 by test_pid1.py.

`crash` publishes the drafts and edits them four at a time; the twentieth edit ends the process at once
(`os._exit`: no cleanup, as `kill -9` would), with other edits leased and running. `resume` starts a new
Flock on the file, runs to idle, and prints what it found as one JSON line.
"""

from __future__ import annotations

import json
import os
import sys

import anyio
from pydantic import BaseModel

from flock_core import EvaluationRequest, Flock, SQLiteBlackboardStore
from flock_core.testing import FunctionEngine

DRAFTS = 60
CRASH_AFTER = 20


class Draft(BaseModel):
    text: str


class Edit(BaseModel):
    text: str


def make_flock(path: str, crash: bool) -> Flock:
    calls = 0

    async def edit(request: EvaluationRequest) -> list[BaseModel]:
        nonlocal calls
        calls += 1
        number = calls
        await anyio.sleep(0.005)  # the others stay leased and running meanwhile
        if crash and number == CRASH_AFTER:
            os._exit(1)
        draft = request.payloads[0]
        assert isinstance(draft, Draft)
        return [Edit(text=draft.text.upper())]

    flock = Flock(engine=FunctionEngine(edit), store=SQLiteBlackboardStore(path), max_concurrency=4)
    flock.register_type(Draft)
    flock.register_type(Edit)
    flock.agent("editor").consumes(Draft).publishes(Edit)
    return flock


async def crash(path: str) -> None:
    flock = make_flock(path, crash=True)
    for n in range(DRAFTS):
        await flock.publish(Draft(text=f"draft {n}"), correlation_id=f"w{n}")
    await flock.run_until_idle()  # never returns: the process ends inside an edit


async def resume(path: str) -> None:
    async with make_flock(path, crash=False) as flock:
        report = await flock.start()
        await flock.run_until_idle()
        states = [(await flock.get_correlation_status(f"w{n}")).state for n in range(DRAFTS)]
        print(
            json.dumps(
                {
                    "pid": os.getpid(),
                    "resumed": report.resumed_work,
                    "skipped": len(report.skipped_work),
                    "states": sorted(set(states)),
                }
            )
        )


if __name__ == "__main__":
    anyio.run({"crash": crash, "resume": resume}[sys.argv[1]], sys.argv[2])
