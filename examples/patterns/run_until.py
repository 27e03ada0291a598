"""run_until: stop as soon as three good answers exist, or any workflow fails."""

from __future__ import annotations

import anyio
from pydantic import BaseModel

from flock_core import ArtifactCount, EvaluationRequest, Flock, WorkflowFailed
from flock_core.testing import FunctionEngine


class Candidate(BaseModel):
    n: int


class Verdict(BaseModel):
    n: int
    good: bool


def judge(request: EvaluationRequest) -> list[BaseModel]:
    candidate = request.payloads[0]
    assert isinstance(candidate, Candidate)
    return [Verdict(n=candidate.n, good=candidate.n % 2 == 0)]


async def main() -> None:
    flock = Flock(engine=FunctionEngine(judge), max_concurrency=1)
    flock.register_type(Candidate)
    flock.register_type(Verdict)
    flock.agent("judge").consumes(Candidate).publishes(Verdict)
    await flock.publish_many([Candidate(n=i) for i in range(20)])
    met = await flock.run_until(ArtifactCount(Verdict, at_least=3) | WorkflowFailed(), timeout=10)
    verdicts = await flock.store.get_by_type(Verdict)
    print(f"condition met: {met}; stopped after {len(verdicts)} of 20 verdicts")


if __name__ == "__main__":
    anyio.run(main)
