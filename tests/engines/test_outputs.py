from __future__ import annotations

from typing import Any

import dspy
import pytest
from pydantic import BaseModel, Field

from engines import InputShape, plan_signature
from engines._outputs import collect_outputs, parse_violation
from flock_core import AgentSpec, FanOut, OutputGroup
from flock_core.exceptions import ContractViolation


class Idea(BaseModel):
    text: str = Field(min_length=2)


class Risk(BaseModel):
    level: int


SPEC = AgentSpec("planner", output_groups=(OutputGroup(("Idea", "Risk"), (Idea, Risk), FanOut(2)),))
PLAN = plan_signature(SPEC, 0, InputShape())


def test_every_item_of_every_field_in_declared_order() -> None:
    prediction = dspy.Prediction(ideas=[Idea(text="a1"), {"text": "b2"}], risks=[Risk(level=1), Risk(level=2)])
    assert collect_outputs("planner", PLAN, prediction) == [
        Idea(text="a1"),
        Idea(text="b2"),
        Risk(level=1),
        Risk(level=2),
    ]


def test_invalid_items_and_non_lists_are_contract_violations() -> None:
    with pytest.raises(ContractViolation) as caught:
        collect_outputs("planner", PLAN, dspy.Prediction(ideas=[{"text": "x"}], risks=[]))
    assert caught.value.errors == ("Idea[0].text: String should have at least 2 characters",)
    with pytest.raises(ContractViolation, match="a list of Idea"):
        collect_outputs("planner", PLAN, dspy.Prediction(ideas=Idea(text="ab"), risks=[]))


def test_parse_violation_names_missing_fields_and_shows_the_reply() -> None:
    signature: Any = dspy.make_signature("x -> ideas, risks")
    reply = "[[ ## ideas ## ]]\n[]"
    error = dspy.AdapterParseError("ChatAdapter", signature, reply, parsed_result={"ideas": []})  # pyright: ignore[reportArgumentType]
    violation = parse_violation("planner", PLAN, error)
    assert violation.expected == "a reply with the fields ideas, risks (ChatAdapter format)"
    assert violation.got == "an unparseable reply '[[ ## ideas ## ]]\\n[]'"
    assert violation.errors == ("missing output field(s): risks",)


def test_parse_violation_keeps_the_field_error_and_shortens_long_replies() -> None:
    signature: Any = dspy.make_signature("x -> ideas, risks")
    message = "Failed to parse field ideas with value nope from the LM response. Error message: bad JSON"
    error = dspy.AdapterParseError("JSONAdapter", signature, "y" * 1000, message=message)
    violation = parse_violation("planner", PLAN, error)
    assert violation.errors == (message,)
    assert len(violation.got) < 400
