"""The payload types of every workload, shared by both frameworks' drivers and the fake model.

Only Pydantic and the standard library: Flock's driver imports this module in Flock's own virtualenv.
Each framework registers these models its own way; the declarations built on them are the same.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pydantic import BaseModel, Field

__all__ = [
    "CALLS_PER_WORKFLOW",
    "FAN_OUT",
    "MODELS",
    "MODEL_LATENCY",
    "STAGES",
    "Draft",
    "Idea",
    "Note",
    "Review",
    "Stage",
    "Topic",
    "advance",
    "note",
    "sample",
]


class Topic(BaseModel):
    """The input of the pipeline."""

    name: str = Field(description="What to write about")


class Idea(BaseModel):
    """Stage 1 output: one angle on the topic."""

    title: str = Field(description="A short title")
    angle: str = Field(description="The angle taken on the topic")


class Draft(BaseModel):
    """Stage 2 output: a short text for one idea."""

    title: str
    text: str = Field(description="Two or three sentences")


class Review(BaseModel):
    """Stage 3 output: a verdict on one draft."""

    verdict: str
    stars: int = Field(ge=1, le=5)


class Note(BaseModel):
    """The artifact of the memory and durability workloads."""

    text: str
    n: int


MODELS: tuple[type[BaseModel], ...] = (Topic, Idea, Draft, Review, Note)

MODEL_LATENCY = 0.01
"""Seconds each stage's engine sleeps in the back-pressure workload, as a model call would."""


@dataclass(frozen=True, slots=True)
class Stage:
    """One agent of the 3-stage pipeline: its name, description, input and output types."""

    agent: str
    description: str
    consumes: type[BaseModel]
    publishes: type[BaseModel]


STAGES: tuple[Stage, ...] = (
    Stage("planner", "Plan ideas about the topic.", Topic, Idea),
    Stage("writer", "Write a short draft for the idea.", Idea, Draft),
    Stage("critic", "Review the draft.", Draft, Review),
)
FAN_OUT = 20
"""Ideas per topic in the latency-bound workload (stage 1 fans out, stages 2 and 3 run per idea)."""
CALLS_PER_WORKFLOW = 1 + 2 * FAN_OUT
"""Model calls of one latency-bound workflow: one plan, then a draft and a review per idea."""


def advance(payload: BaseModel) -> BaseModel:
    """The deterministic engine's work: the next stage's payload, validated like any output.

    >>> advance(Topic(name="cats"))
    Idea(title='cats', angle='seen from above')
    """
    if isinstance(payload, Topic):
        return Idea(title=payload.name, angle="seen from above")
    if isinstance(payload, Idea):
        return Draft(title=payload.title, text=f"A draft about {payload.title}, {payload.angle}.")
    if isinstance(payload, Draft):
        return Review(verdict=f"{payload.title}: fine", stars=4)
    raise TypeError(f"no pipeline stage consumes {type(payload).__name__}")


def note(n: int) -> Note:
    """The `n`-th artifact of the memory and durability workloads (about 60 bytes of payload)."""
    return Note(text=f"note number {n} about nothing in particular", n=n)


_SAMPLES: dict[type[BaseModel], Callable[[int], BaseModel]] = {
    Topic: lambda i: Topic(name=f"topic {i}"),
    Idea: lambda i: Idea(title=f"Idea {i}", angle=f"angle number {i}, from a fresh side"),
    Draft: lambda i: Draft(title=f"Draft {i}", text=f"Draft {i} says one thing, then another, then stops."),
    Review: lambda i: Review(verdict=f"Draft {i} reads well", stars=i % 5 + 1),
    Note: note,
}


def sample(model: type[BaseModel], i: int) -> BaseModel:
    """The `i`-th instance of `model` that the fake model answers with.

    >>> sample(Review, 7)
    Review(verdict='Draft 7 reads well', stars=3)
    """
    return _SAMPLES[model](i)
