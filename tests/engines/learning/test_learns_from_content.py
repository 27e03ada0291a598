"""Optimizing on the simulated model, whose answers depend on what the demos in its prompt say.

A one-agent triage workflow on `DSPyEngine("simulated")`. The categories' descriptions name only a few
words, so the model starts weak; correct demos of similar tickets teach it, mislabelled ones mislead it,
and unrelated ones change nothing. The optimizer's choice must do at least as well as any single
hand-picked demo set.
"""

from __future__ import annotations

from typing import Literal

import pytest
from pydantic import BaseModel, Field

from engines import DSPyEngine, OptimizeOptions, WorkflowExample, WorkflowRun, aevaluate, aoptimize
from flock_core import Demo, Flock, LearnedState


class Ticket(BaseModel):
    """A customer's message."""

    text: str


class Triage(BaseModel):
    """Which desk handles a ticket."""

    category: Literal["billing", "delivery", "account"] = Field(
        description="billing: invoices; delivery: parcels; account: anything else"
    )


TRAIN = [
    ("I was charged twice on my invoice", "billing"),
    ("the parcel never arrived at my door", "delivery"),
    ("please change my email address", "account"),
    ("refund the double payment on my card", "billing"),
    ("the courier left my package outside in the rain", "delivery"),
    ("reset my password, the login fails", "account"),
    ("my card was billed the wrong amount", "billing"),
    ("tracking says the package is lost", "delivery"),
]
DEV = [
    ("why was my card charged twice", "billing"),
    ("I want a refund of this payment", "billing"),
    ("the courier lost my package", "delivery"),
    ("my parcel tracking has not moved", "delivery"),
    ("I cannot login with my password", "account"),
    ("update the email on my account", "account"),
]
CORRECT = [
    ("charged twice for one payment on my card, refund please", "billing"),
    ("the courier says the package was delivered but tracking shows lost", "delivery"),
    ("login fails after the password reset email", "account"),
]
MISLABELLED = [
    (text, {"billing": "delivery", "delivery": "account", "account": "billing"}[label]) for text, label in CORRECT
]
IRRELEVANT = [("sunny weather today", "billing"), ("my cat likes jazz", "delivery"), ("blue green yellow", "account")]


def right_category(example: WorkflowExample[str], run: WorkflowRun) -> bool:
    triage = run.final(Triage)
    return triage is not None and triage.category == example.expected


def build() -> Flock:
    flock = Flock(engine=DSPyEngine("simulated"))
    flock.register_type(Ticket)
    flock.register_type(Triage)
    flock.agent("triage").description("Classify the ticket.").consumes(Ticket).publishes(Triage)
    return flock


def examples(rows: list[tuple[str, str]], *, labelled: bool = False) -> list[WorkflowExample[str]]:
    return [
        WorkflowExample(Ticket(text=text), label, outputs=[Triage(category=label)] if labelled else ())  # pyright: ignore[reportArgumentType]
        for text, label in rows
    ]


def demos(rows: list[tuple[str, str]]) -> LearnedState:
    return LearnedState(
        demos=tuple(
            Demo(inputs=(("Ticket", {"text": text}),), outputs=(("Triage", {"category": label}),))
            for text, label in rows
        )
    )


async def score_with(state: LearnedState | None) -> float:
    flock = build()
    if state is not None:
        flock.learned["triage", 0] = state
    return (await aevaluate(flock, examples(DEV), right_category)).score


@pytest.mark.anyio
async def test_correct_demos_help_mislabelled_ones_hurt_and_unrelated_ones_do_nothing() -> None:
    none, correct = await score_with(None), await score_with(demos(CORRECT))
    mislabelled, irrelevant = await score_with(demos(MISLABELLED)), await score_with(demos(IRRELEVANT))
    assert mislabelled < none < correct
    assert irrelevant == none
    assert (none, correct, round(mislabelled, 2)) == (0.5, 1.0, 0.17)


@pytest.mark.anyio
async def test_the_optimizers_choice_is_at_least_as_good_as_any_hand_picked_demo_set() -> None:
    hand_picked = {
        name: await score_with(demos(rows))
        for name, rows in {"correct": CORRECT, "mislabelled": MISLABELLED, "irrelevant": IRRELEVANT}.items()
    }
    flock = build()
    options = OptimizeOptions(optimizer="bootstrap_random_search", max_demos=8, bootstrap_rounds=2, num_candidates=6)
    result = await aoptimize(flock, examples(TRAIN, labelled=True), right_category, options, valset=examples(DEV))
    chosen = (await aevaluate(flock, examples(DEV), right_category)).score
    assert result.best_score == chosen
    assert chosen >= max(hand_picked.values()), (chosen, hand_picked)
    assert result.baseline_score is not None
    assert chosen > result.baseline_score
