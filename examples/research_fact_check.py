"""A research workflow that calls a nested fact-checking workflow as one of its agents.

The fact checker is a `Flock` of its own (find evidence, then judge); `.runs(fact_checker)` makes it the
engine of the outer `fact_check` agent, whose declaration (`consumes(Claim).publishes(Verdict)`) is its
contract. Every artifact of the inner runs is copied onto the outer board for lineage, and never routed
there; the lineage of a verdict leads back through them to the claim and the topic.
"""

from __future__ import annotations

import anyio
from pydantic import BaseModel

from flock_core import ArtifactQuery, EvaluationRequest, Flock
from flock_core.testing import FunctionEngine

KNOWN = {"the Moon orbits the Earth": "NASA", "the Moon is made of cheese": None}


class Topic(BaseModel):
    name: str


class Claim(BaseModel):
    text: str


class Evidence(BaseModel):
    claim: str
    source: str | None


class Verdict(BaseModel):
    claim: str
    supported: bool


class Report(BaseModel):
    lines: list[str]


def research(request: EvaluationRequest) -> list[BaseModel]:
    return [Claim(text=text) for text in KNOWN]


def find_evidence(request: EvaluationRequest) -> list[BaseModel]:
    claim = request.payloads[0]
    assert isinstance(claim, Claim)
    return [Evidence(claim=claim.text, source=KNOWN.get(claim.text))]


def judge(request: EvaluationRequest) -> list[BaseModel]:
    evidence = request.payloads[0]
    assert isinstance(evidence, Evidence)
    return [Verdict(claim=evidence.claim, supported=evidence.source is not None)]


def write(request: EvaluationRequest) -> list[BaseModel]:
    verdicts = sorted((p for p in request.payloads if isinstance(p, Verdict)), key=lambda v: v.claim)
    return [Report(lines=[f"{'supported' if v.supported else 'unsupported'}: {v.claim}" for v in verdicts])]


def fact_checker() -> Flock:
    inner = Flock()
    for model in (Claim, Evidence, Verdict):
        inner.register_type(model)
    inner.agent("find_evidence").consumes(Claim).publishes(Evidence).with_engines(FunctionEngine(find_evidence))
    inner.agent("judge").consumes(Evidence).publishes(Verdict).with_engines(FunctionEngine(judge))
    return inner


async def main() -> None:
    flock = Flock()
    for model in (Topic, Claim, Verdict, Report):
        flock.register_type(model)
    flock.agent("researcher").consumes(Topic).publishes(Claim, fan_out=2).with_engines(FunctionEngine(research))
    flock.agent("fact_check").consumes(Claim).publishes(Verdict).runs(fact_checker())
    flock.agent("writer").consumes(Verdict, Verdict).publishes(Report).with_engines(FunctionEngine(write))
    result = await flock.arun(Topic(name="the Moon"))

    [report] = result.get(Report)
    print("\n".join(report.lines))
    board = {a.id: a for a in (await flock.store.query(ArtifactQuery())).items}
    verdict = next(a for a in result.artifacts if a.type == "Verdict")
    chain: list[str] = []
    parent = verdict
    while parent.consumed_from:
        parent = board[parent.consumed_from[-1]]
        chain.append(f"{parent.type} by {parent.produced_by}")
    print("lineage of a verdict:", " <- ".join(chain))


if __name__ == "__main__":
    anyio.run(main)
