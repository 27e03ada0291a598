"""How `DSPyEngine` applies learned state: demos become DSPy demos, instructions replace the description."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from pydantic import BaseModel

from engines import DSPyEngine, InputShape, InputSlot, plan_signature
from engines._inputs import demo_fields
from flock_core import AgentSpec, Artifact, Demo, EvaluationRequest, FanOut, LearnedState, OutputGroup, Subscription
from flock_core.testing import FakeOpenAIServer

from .conftest import Label, Ticket

TRIAGE = AgentSpec(
    "triage",
    "Label the ticket with its topic.",
    subscriptions=(Subscription(("Ticket",), (Ticket,)),),
    output_groups=(OutputGroup(("Label",), (Label,)),),
)
DEMO = Demo(inputs=(("Ticket", {"text": "charged twice"}),), outputs=(("Label", {"name": "BILLING"}),))


def request(learned: LearnedState | None, *, context: bool = False) -> EvaluationRequest:
    ticket = Ticket(text="where is my parcel?")
    inputs = (Artifact(type="Ticket", payload=ticket.model_dump(), correlation_id="c"),)
    extra = (Artifact(type="Ticket", payload={"text": "earlier"}, correlation_id="c"),) if context else ()
    return EvaluationRequest(TRIAGE, TRIAGE.output_groups[0], 0, inputs, (ticket,), context=extra, learned=learned)


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    reply = '[[ ## label ## ]]\n{"name": "DELIVERY"}\n\n[[ ## completed ## ]]'
    with FakeOpenAIServer(replies=[reply]) as server:
        yield server


def engine(server: FakeOpenAIServer) -> DSPyEngine:
    return DSPyEngine("openai/fake", api_base=server.base_url, api_key="sk-test", num_retries=0)


@pytest.mark.anyio
async def test_demos_become_worked_examples_named_like_the_signature_fields(server: FakeOpenAIServer) -> None:
    result = await engine(server).evaluate(request(LearnedState(demos=(DEMO,))))
    assert result.outputs == [Label(name="DELIVERY")]
    messages = server.requests[0].messages
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[1]["content"] == '[[ ## ticket ## ]]\n{"text": "charged twice"}'
    assert messages[2]["content"] == '[[ ## label ## ]]\n{"name": "BILLING"}\n\n[[ ## completed ## ]]\n'
    assert "Label the ticket with its topic." in messages[0]["content"]


@pytest.mark.anyio
async def test_learned_instructions_replace_the_description_and_take_effect_at_once(server: FakeOpenAIServer) -> None:
    local = engine(server)
    await local.evaluate(request(LearnedState(instructions="Answer with the topic in capitals.")))
    await local.evaluate(request(LearnedState(instructions="Say the topic.")))
    await local.evaluate(request(None))
    systems = [str(r.messages[0]["content"]) for r in server.requests]
    assert "Answer with the topic in capitals." in systems[0]
    assert "Label the ticket" not in systems[0]
    assert "Say the topic." in systems[1]
    assert "Label the ticket with its topic." in systems[2]
    assert [len(r.messages) for r in server.requests] == [2, 2, 2]


@pytest.mark.anyio
async def test_a_demo_without_the_context_field_is_shown_as_incomplete(server: FakeOpenAIServer) -> None:
    await engine(server).evaluate(request(LearnedState(demos=(DEMO,)), context=True))
    demo = str(server.requests[0].messages[1]["content"])
    assert demo.startswith("This is an example of the task, though some input or output fields are not supplied.")
    assert "[[ ## context ## ]]" not in demo


@pytest.mark.anyio
async def test_demos_that_no_longer_fit_are_left_out(server: FakeOpenAIServer) -> None:
    stale = Demo(inputs=(("Ticket", {"words": "renamed field"}),), outputs=(("Label", {"name": "X"}),))
    other_type = Demo(inputs=(("Order", {"id": 1}),), outputs=(("Label", {"name": "X"}),))
    await engine(server).evaluate(request(LearnedState(demos=(stale, other_type, DEMO))))
    assert len(server.requests[0].messages) == 4  # only DEMO


class Story(BaseModel):
    text: str


class Pitch(BaseModel):
    title: str


def test_plural_fields_get_lists() -> None:
    spec = AgentSpec(
        "pitcher",
        subscriptions=(Subscription(("Story", "Story"), (Story, Story)),),
        output_groups=(OutputGroup(("Pitch",), (Pitch,), FanOut(2)),),
    )
    plan = plan_signature(spec, 0, InputShape((InputSlot("Story", Story, 2),)))
    demo = Demo(
        inputs=(("Story", {"text": "a"}), ("Story", {"text": "b"})),
        outputs=(("Pitch", {"title": "A"}), ("Pitch", {"title": "B"})),
    )
    assert demo_fields(plan, demo) == {
        "stories": [Story(text="a"), Story(text="b")],
        "pitches": [Pitch(title="A"), Pitch(title="B")],
    }
    single = plan_signature(spec, 0, InputShape((InputSlot("Story", Story, 1),)))
    assert demo_fields(single, demo) == {"story": Story(text="a"), "pitches": [Pitch(title="A"), Pitch(title="B")]}
    assert demo_fields(plan, Demo(inputs=demo.inputs, outputs=())) is None


def test_learned_instructions_are_part_of_the_plan() -> None:
    shape = InputShape((InputSlot("Ticket", Ticket),))
    assert plan_signature(TRIAGE, 0, shape, instructions="Be brief.").instructions == "Be brief."
    assert plan_signature(TRIAGE, 0, shape).instructions == "Label the ticket with its topic."
    repair = InputShape((InputSlot("Ticket", Ticket),), repair=True)
    assert plan_signature(TRIAGE, 0, repair, instructions="Be brief.").instructions.startswith("Be brief.\n\n")
    assert json.dumps(plan_signature(TRIAGE, 0, shape, instructions="Be brief.").describe()["inputs"])
