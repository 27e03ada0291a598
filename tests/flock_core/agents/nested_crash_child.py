"""The research workflow that `test_nested_crash.py` kills with SIGKILL in the middle of its nested run.

Usage: `python nested_crash_child.py DIR first|second`. Both Flocks keep their boards in SQLite files in DIR.
The inner workflow is Claim -> look_up -> Evidence -> judge -> Verdict. In the `first` lifetime `judge`
prints `blocking` and hangs (the parent kills the process there); `second` resumes and runs to the end.
Each inner agent prints `call AGENT` when it runs; the end prints `verdict CLAIM SUPPORTED`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import anyio
from pydantic import BaseModel

from flock_core import EvaluationRequest, Flock, SQLiteBlackboardStore
from flock_core.testing import FunctionEngine


class Claim(BaseModel):
    text: str


class Evidence(BaseModel):
    claim: str
    found: bool


class Verdict(BaseModel):
    claim: str
    supported: bool


async def main(directory: str, lifetime: str) -> None:
    def look_up(request: EvaluationRequest) -> list[BaseModel]:
        claim = request.payloads[0]
        assert isinstance(claim, Claim)
        print("call look_up", flush=True)
        return [Evidence(claim=claim.text, found=True)]

    async def judge(request: EvaluationRequest) -> list[BaseModel]:
        evidence = request.payloads[0]
        assert isinstance(evidence, Evidence)
        print("call judge", flush=True)
        if lifetime == "first":
            print("blocking", flush=True)
            await anyio.sleep(120)
        return [Verdict(claim=evidence.claim, supported=evidence.found)]

    inner = Flock(store=SQLiteBlackboardStore(Path(directory) / "inner.db"))
    for model in (Claim, Evidence, Verdict):
        inner.register_type(model)
    inner.agent("look_up").consumes(Claim).publishes(Evidence).with_engines(FunctionEngine(look_up))
    inner.agent("judge").consumes(Evidence).publishes(Verdict).with_engines(FunctionEngine(judge))

    outer = Flock(store=SQLiteBlackboardStore(Path(directory) / "outer.db"))
    outer.register_type(Claim)
    outer.register_type(Verdict)
    outer.agent("fact_check").consumes(Claim).publishes(Verdict).runs(inner)
    async with outer, inner:
        if lifetime == "first":
            await outer.publish(Claim(text="the Moon orbits the Earth"), correlation_id="research")
        await outer.run_until_idle()
        for verdict in await outer.get_by_type(Verdict, correlation_id="research"):
            print("verdict", verdict.claim, verdict.supported, flush=True)


if __name__ == "__main__":
    anyio.run(main, sys.argv[1], sys.argv[2])
