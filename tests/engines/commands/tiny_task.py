"""A small support router on the SIMULATED model, as the commands' tests name it: `tiny_task:task`.

`triage` labels a `Ticket` (eta, missing_item or other) and `reply` answers the `Triage`. The simulated
model only knows what its prompt says: the category descriptions name "late", so tickets about missing
food start wrong and the demos of the labelled training set teach them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from engines import DSPyEngine, LearningTask, OptimizeOptions, WorkflowExample, WorkflowRun
from flock_core import Flock


class Ticket(BaseModel):
    text: str


class Triage(BaseModel):
    category: Literal["eta", "missing_item", "other"] = Field(description="eta: late orders; other: anything else")


class Reply(BaseModel):
    text: str


def build(description: str = "Classify the support ticket.") -> Flock:
    flock = Flock(engine=DSPyEngine("simulated"))
    for model in (Ticket, Triage, Reply):
        flock.register_type(model)
    flock.agent("triage").description(description).consumes(Ticket).publishes(Triage)
    flock.agent("reply").description("Answer the customer.").consumes(Triage).publishes(Reply)
    return flock


def _examples(rows: list[tuple[str, str]]) -> list[WorkflowExample[str]]:
    return [WorkflowExample(Ticket(text=text), label, outputs=[Triage(category=label)]) for text, label in rows]  # type: ignore[arg-type]


TRAIN = _examples(
    [
        ("my fries are missing from the bag", "missing_item"),
        ("the burger is missing", "missing_item"),
        ("order is late again", "eta"),
        ("change my email address please", "other"),
        ("drinks missing from my order", "missing_item"),
        ("pizza is very late", "eta"),
    ]
)
DEV = _examples(
    [("my drinks are missing", "missing_item"), ("delivery is late", "eta"), ("fries missing", "missing_item")]
)
TEST = _examples(
    [("the fries are missing", "missing_item"), ("burger missing today", "missing_item"), ("late food", "eta")]
)


def right_category(example: WorkflowExample[str], run: WorkflowRun) -> bool:
    triage = run.final(Triage)
    return triage is not None and triage.category == example.expected


def task() -> LearningTask[str]:
    options = OptimizeOptions(
        optimizer="bootstrap_random_search",
        num_candidates=2,
        max_demos=4,
        concurrency=4,
        reflection_lm="simulated",  # for `--optimizer gepa`
        minibatch_size=3,
    )
    return LearningTask(build(), right_category, trainset=TRAIN, devset=DEV, testset=TEST, options=options)


flock = build()
changed = build("Sort the ticket.")
