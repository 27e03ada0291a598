"""A customer-support router that learns: triage a ticket, route it to one of four desks, then optimize.

A `triage` agent labels each `Ticket` with a `Triage` category (ETA, missing item, driver, other); the
four desks subscribe to `Triage` with a `where=` filter on the category and all publish a `Reply`. The
224 labelled tickets are split by a fixed seed into train (112), dev (56) and test (56). The script
scores the workflow on the test split, optimizes it (`bootstrap_random_search`: demos from the training
runs the metric passes, random demo subsets scored on the dev split, the best kept only if it beats the
starting state there), scores the test split again, then saves what it learned and loads it into a new Flock.

The model, by default, is the SIMULATED model (`DSPyEngine("simulated")`, see docs/learning.md): an
offline stand-in, not an LLM, whose answers follow what its prompt says (the category descriptions, the
demos, rules in the instructions) and nothing else. `--server` runs the same thing, unchanged, behind a
local fake OpenAI-compatible server, so every prompt travels DSPy's and LiteLLM's real HTTP path; the
numbers are the same. Set FLOCK_MODEL (for example `openai/gpt-4.1-mini`, with OPENAI_API_KEY) to run the
same workflow and optimization on a real model."""

from __future__ import annotations

import json
import os
import random
import sys
import tempfile
from collections.abc import Generator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import anyio
from pydantic import BaseModel, Field

from engines import (
    DSPyEngine,
    LearningTask,
    OptimizeOptions,
    WorkflowExample,
    WorkflowRun,
    aevaluate,
    aoptimize,
    load_learned,
    save_learned,
    simulated_responder,
)
from flock_core import Flock, flock_type
from flock_core.testing import FakeOpenAIServer

Category = Literal["eta", "missing_item", "driver", "other"]
DATA = Path(__file__).with_name("tickets.jsonl")
SPLIT_SEED = 2024
ModelChoice = Literal["simulated", "server", "env"]


@flock_type(name="support.Ticket")
class Ticket(BaseModel):
    """A customer's message to support."""

    text: str


@flock_type(name="support.Triage")
class Triage(BaseModel):
    """Which desk handles a ticket."""

    category: Category = Field(
        description="eta: when an order arrives or why it is late; missing_item: something ordered is not "
        "in the delivery; driver: the courier's behaviour; other: anything else"
    )


@flock_type(name="support.Reply")
class Reply(BaseModel):
    """The answer sent to the customer."""

    text: str


DESKS: dict[Category, str] = {
    "eta": "Answer a question about when an order will arrive: apologize for any delay, give a realistic update.",
    "missing_item": "Handle an order with missing items: apologize and offer a refund or redelivery of them.",
    "driver": "Handle a complaint about a courier: apologize, say the report goes to the courier team.",
    "other": "Answer any other request (account, payments, app): help or point to the right place.",
}


def build_flock(flock: Flock) -> Flock:
    """Declare the router: triage, and one desk per category."""
    flock.agent("triage").description("Classify the customer's support ticket.").consumes(Ticket).publishes(Triage)
    for category, description in DESKS.items():
        flock.agent(f"{category}_desk").description(description).consumes(
            Triage, where=lambda triage, wanted=category: triage.category == wanted
        ).publishes(Reply)
    return flock


def load_splits() -> tuple[list[WorkflowExample[str]], list[WorkflowExample[str]], list[WorkflowExample[str]]]:
    """The labelled tickets shuffled by `SPLIT_SEED`: half for training, a quarter each for dev and test."""
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line.strip()]
    random.Random(SPLIT_SEED).shuffle(rows)
    # The right Triage of each ticket doubles as a labelled demo for the triage agent (see docs/learning.md).
    examples = [
        WorkflowExample(Ticket(text=row["text"]), row["category"], outputs=[Triage(category=row["category"])])
        for row in rows
    ]
    half, three_quarters = len(examples) // 2, len(examples) * 3 // 4
    return examples[:half], examples[half:three_quarters], examples[three_quarters:]


def routed_correctly(example: WorkflowExample[str], run: WorkflowRun) -> bool:
    """The metric: triage chose the labelled category and the desk replied."""
    triage = run.final(Triage)
    return triage is not None and triage.category == example.expected and run.final(Reply) is not None


OPTIONS = OptimizeOptions(
    optimizer="bootstrap_random_search",
    max_demos=16,
    bootstrap_rounds=3,
    num_candidates=6,
    concurrency=28,
    reflection_lm="simulated",  # `--optimizer gepa` reflects with the simulated model too
    minibatch_size=16,
)


def task() -> LearningTask[str]:
    """The router as a `LearningTask` on the in-process SIMULATED model, for the commands:
    `flock optimize examples.support_router.router:task`, `flock evaluate examples.support_router.router:task`."""
    trainset, devset, testset = load_splits()
    flock = build_flock(Flock(engine=DSPyEngine("simulated")))
    return LearningTask(flock, routed_correctly, trainset=trainset, devset=devset, testset=testset, options=OPTIONS)


@contextmanager
def model_engine(choice: ModelChoice) -> Generator[tuple[DSPyEngine, str]]:
    """The engine for `choice`, and a name for the model that answers."""
    if choice == "env":
        model = os.environ["FLOCK_MODEL"]
        yield DSPyEngine(model), model
    elif choice == "server":
        with FakeOpenAIServer(simulated_responder) as server:
            engine = DSPyEngine("openai/simulated", api_base=server.base_url, api_key="sk-simulated", num_retries=0)
            yield engine, "SIMULATED model behind a local fake OpenAI server (offline stand-in, not an LLM)"
    else:
        yield DSPyEngine("simulated"), "SIMULATED model, in-process (offline stand-in, not an LLM)"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the script measured."""

    model: str
    test_before: float
    test_after: float
    dev_baseline: float | None
    dev_best: float | None
    calls: int
    reloaded_test: float


async def optimize_router(choice: ModelChoice, *, report: bool = True) -> Outcome:
    """Score the test split, optimize on train (candidates scored on dev), score the test split again."""
    trainset, devset, testset = load_splits()

    def say(line: str) -> None:
        if report:
            print(line)

    with model_engine(choice) as (engine, model):
        flock = build_flock(Flock(engine=engine))
        say(f"model: {model}")
        say(f"tickets: {len(trainset)} train, {len(devset)} dev, {len(testset)} test (split seed {SPLIT_SEED})")
        before = await aevaluate(flock, testset, routed_correctly, concurrency=28)
        say(f"test accuracy before optimization: {before.score:.1%}")
        result = await aoptimize(flock, trainset, routed_correctly, OPTIONS, valset=devset)
        trials = ", ".join(f"{t.label} {t.score:.1%}" for t in result.trials if t.score is not None)
        say(f"optimization: {len(result.trials)} trials ({trials}); {result.usage.calls} model calls")
        after = await aevaluate(flock, testset, routed_correctly, concurrency=28)
        say(f"test accuracy after optimization: {after.score:.1%}")
        demos = {f"{agent}/{group}": len(state.demos) for (agent, group), state in sorted(flock.learned.items())}
        say(f"learned demos: {demos}")
        with tempfile.TemporaryDirectory() as directory:
            path = Path(directory) / "router.learned.json"
            save_learned(flock, path)
            fresh = build_flock(Flock(engine=engine))
            loaded = load_learned(fresh, path)
            again = await aevaluate(fresh, testset, routed_correctly, concurrency=28)
            say(f"saved, loaded into a new Flock ({len(loaded.loaded)} groups): test accuracy {again.score:.1%}")
    return Outcome(
        model, before.score, after.score, result.baseline_score, result.best_score, result.usage.calls, again.score
    )


def main() -> None:
    choice: ModelChoice = "server" if "--server" in sys.argv[1:] else "simulated"
    if os.environ.get("FLOCK_MODEL"):
        choice = "env"
    anyio.run(lambda: optimize_router(choice))


if __name__ == "__main__":
    main()
