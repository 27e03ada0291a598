"""A branching workflow for the budget tests, also run as a child process: `python branching.py URL RUN_DIR BUDGET`.

A `Ticket` reaches `triage`, and an urgent one also `summary` and `sentiment` at once; `triage`'s `Label`
reaches `reply`. A plain ticket costs two model calls, an urgent one four, three of them concurrent. The
training set starts with plain tickets, so the runs measured first under-estimate the later ones: only a
limit at the model call keeps such a workflow within its budget.
"""

from __future__ import annotations

import sys
from pathlib import Path

import anyio
from pydantic import BaseModel

from engines import Budget, DSPyEngine, OptimizeOptions, WorkflowExample, WorkflowRun, aoptimize
from flock_core import Flock


class Ticket(BaseModel):
    text: str


class Label(BaseModel):
    name: str


class Summary(BaseModel):
    text: str


class Sentiment(BaseModel):
    score: int


class Reply(BaseModel):
    text: str


def build(base_url: str) -> Flock:
    flock = Flock(engine=DSPyEngine("openai/simulated", api_base=base_url, api_key="sk-test", num_retries=0))
    for model in (Ticket, Label, Summary, Sentiment, Reply):
        flock.register_type(model)
    flock.agent("triage").consumes(Ticket).publishes(Label)
    flock.agent("summary").consumes(Ticket, where=urgent).publishes(Summary)
    flock.agent("sentiment").consumes(Ticket, where=urgent).publishes(Sentiment)
    flock.agent("reply").consumes(Label).publishes(Reply)
    return flock


def urgent(ticket: Ticket) -> bool:
    return "urgent" in ticket.text


TRAIN = [WorkflowExample(Ticket(text=f"{'urgent ' if i >= 3 else ''}ticket number {i}"), "any") for i in range(12)]


def replied(example: WorkflowExample[str], run: WorkflowRun) -> bool:
    return run.final(Reply) is not None


async def optimize(
    base_url: str, run_dir: Path | None, max_calls: int | None, concurrency: int = 6, *, budget: Budget | None = None
) -> tuple[int, str]:
    """Optimize under `budget` (default `Budget(max_calls=...)`); the calls it reports and why it stopped."""
    options = OptimizeOptions(
        optimizer="bootstrap_random_search",
        num_candidates=4,
        budget=budget or Budget(max_calls=max_calls),
        concurrency=concurrency,
        run_dir=run_dir,
    )
    result = await aoptimize(build(base_url), TRAIN, replied, options)
    return result.usage.calls, result.stop_reason


if __name__ == "__main__":
    calls, stop = anyio.run(lambda: optimize(sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])))
    print(calls, stop, flush=True)
