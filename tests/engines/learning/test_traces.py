"""From a finished run to demos: activations found through lineage, outputs split into output groups."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from engines._learning._traces import run_demos
from engines._learning._workflow_run import collect_run
from flock_core import Demo, EvaluationRequest, Flock
from flock_core.testing import FunctionEngine


class Topic(BaseModel):
    name: str


class Idea(BaseModel):
    text: str


class Tag(BaseModel):
    label: str


class Summary(BaseModel):
    text: str


def engine(request: EvaluationRequest) -> list[BaseModel]:
    name, group = request.agent.name, request.group_index
    if name == "brainstorm" and group == 0:
        return [Idea(text=f"idea {i}") for i in range(2)]
    if name == "brainstorm":
        return [Tag(label="fun")]
    if name == "summarise":
        return [Summary(text=" + ".join(p.model_dump()["text"] for p in request.payloads))]
    raise RuntimeError("the critic fails")


@pytest.mark.anyio
async def test_each_activation_gives_one_demo_per_output_group() -> None:
    flock = Flock(engine=FunctionEngine(engine))
    for model in (Topic, Idea, Tag, Summary):
        flock.register_type(model)
    flock.agent("brainstorm").consumes(Topic).publishes(Idea, fan_out=2).publishes(Tag)
    flock.agent("summarise").consumes(Idea, Idea).publishes(Summary)
    flock.agent("critic").consumes(Summary).publishes(Tag)
    result = await flock.arun(Topic(name="cats"))
    run = await collect_run(flock, result.artifacts[0].correlation_id)

    demos = run_demos(run, flock.agents, {"brainstorm", "summarise", "critic"})
    assert demos == {
        ("brainstorm", 0): [
            Demo(
                inputs=(("Topic", {"name": "cats"}),),
                outputs=(("Idea", {"text": "idea 0"}), ("Idea", {"text": "idea 1"})),
            )
        ],
        ("brainstorm", 1): [Demo(inputs=(("Topic", {"name": "cats"}),), outputs=(("Tag", {"label": "fun"}),))],
        ("summarise", 0): [
            Demo(
                inputs=(("Idea", {"text": "idea 0"}), ("Idea", {"text": "idea 1"})),
                outputs=(("Summary", {"text": "idea 0 + idea 1"}),),
            )
        ],
    }  # the critic failed: its WorkflowError is no demo
    assert set(run_demos(run, flock.agents, {"summarise"})) == {("summarise", 0)}


@pytest.mark.anyio
async def test_two_groups_of_one_type_split_by_fan_out() -> None:
    def twice(request: EvaluationRequest) -> list[BaseModel]:
        return [Idea(text=f"group {request.group_index}")] * (2 if request.group_index == 0 else 1)

    flock = Flock(engine=FunctionEngine(twice))
    for model in (Topic, Idea):
        flock.register_type(model)
    flock.agent("brainstorm").consumes(Topic).publishes(Idea, fan_out=2).publishes(Idea)
    result = await flock.arun(Topic(name="dogs"))
    run = await collect_run(flock, result.artifacts[0].correlation_id)
    demos = run_demos(run, flock.agents, {"brainstorm"})
    assert [len(demos["brainstorm", i][0].outputs) for i in (0, 1)] == [2, 1]
    assert demos["brainstorm", 1][0].outputs == (("Idea", {"text": "group 1"}),)
