from __future__ import annotations

from collections.abc import Callable

from inline_snapshot import snapshot
from pydantic import BaseModel

from engines import ContextItem, InputShape, PreviousAttempt, PreviousOutput, plan_signature
from engines._inputs import signature_inputs
from flock_core import AgentSpec, EvaluationRequest, OutputGroup, Subscription
from flock_core.exceptions import ContractViolation

RequestFactory = Callable[..., EvaluationRequest]


class Story(BaseModel):
    text: str


class Style(BaseModel):
    tone: str


class Anthology(BaseModel):
    title: str


SPEC = AgentSpec(
    "editor",
    "Collect the stories.",
    subscriptions=(Subscription(("Story", "Story", "Story", "Style"), (Story, Story, Story, Style)),),
    output_groups=(OutputGroup(("Anthology",), (Anthology,)),),
)


def test_a_list_field_carries_every_artifact_in_arrival_order(request_for: RequestFactory) -> None:
    stories = [Story(text="one"), Story(text="two"), Story(text="three")]
    request = request_for(SPEC, stories[0], Style(tone="dry"), stories[1], stories[2])
    plan = plan_signature(SPEC, 0, InputShape.of(request))
    assert signature_inputs(plan, request) == {"stories": stories, "style": Style(tone="dry")}


def test_context_and_previous_attempt(request_for: RequestFactory) -> None:
    error = ContractViolation("editor", expected="a valid Anthology", got="an invalid payload", errors=["title: short"])
    request = request_for(
        SPEC,
        Story(text="one"),
        context=(Style(tone="warm"),),
        attempt=1,
        previous_outputs=(Anthology(title="x"),),
        previous_error=error,
    )
    plan = plan_signature(SPEC, 0, InputShape.of(request))
    values = signature_inputs(plan, request)
    assert values["context"] == [ContextItem(type="Style", producer="scout", payload={"tone": "warm"})]
    assert values["previous_attempt"] == PreviousAttempt(
        outputs=[PreviousOutput(type="Anthology", payload={"title": "x"})],
        problem="expected a valid Anthology, got an invalid payload",
        errors=["title: short"],
    )


def test_previous_attempt_without_an_error() -> None:
    assert PreviousAttempt.of((), None).model_dump() == snapshot(
        {"outputs": [], "problem": "the previous answer was rejected", "errors": []}
    )
