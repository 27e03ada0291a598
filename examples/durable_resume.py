"""Durable runs: a run on a SQLite file is interrupted, and a new Flock on the same file finishes it.

The first Flock stops as soon as one review exists (as a crash would stop it): two reviews are still
queued in the file. The second Flock, as a restarted process would, opens the file, reports what it
resumes, and runs only the missing activations. Runs offline with a deterministic engine.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import anyio
from pydantic import BaseModel

from flock_core import ArtifactCount, EvaluationRequest, Flock, SQLiteBlackboardStore
from flock_core.testing import FunctionEngine


class Idea(BaseModel):
    text: str


class Draft(BaseModel):
    text: str


class Review(BaseModel):
    draft: str
    score: int


def work(request: EvaluationRequest) -> list[BaseModel]:
    payload = request.payloads[0]
    if isinstance(payload, Idea):
        return [Draft(text=f"{payload.text}, take {i}") for i in range(1, 4)]
    assert isinstance(payload, Draft)
    return [Review(draft=payload.text, score=len(payload.text) % 10)]


def make_flock(path: Path) -> Flock:
    flock = Flock(engine=FunctionEngine(work), store=SQLiteBlackboardStore(path), max_concurrency=1)
    for model in (Idea, Draft, Review):
        flock.register_type(model)
    flock.agent("writer").consumes(Idea).publishes(Draft, fan_out=3)
    flock.agent("critic").consumes(Draft).publishes(Review)
    return flock


async def main(path: Path) -> None:
    async with make_flock(path) as first:
        await first.publish(Idea(text="a blackboard that survives crashes"))
        await first.run_until(ArtifactCount(Review, at_least=1), cancel_rest=False)  # stop early, keep the rest
        print(f"flock 1 stopped with {len(await first.get_by_type(Review))} of 3 reviews")

    async with make_flock(path) as second:
        report = await second.start()
        print(f"flock 2 resumed {report.resumed_work} pending activations (declarations unchanged: {report.unchanged})")
        await second.run_until_idle()
        reviews = await second.get_by_type(Review)
        duplicates = len(reviews) - len({review.draft for review in reviews})
        print(f"reviews: {len(reviews)}, duplicates: {duplicates}")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as folder:
        anyio.run(main, Path(folder) / "board.db")
