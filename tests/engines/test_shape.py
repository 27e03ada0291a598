from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from pydantic import BaseModel

from engines import InputShape, InputSlot
from flock_core import AgentSpec, BatchSpec, EvaluationRequest, OutputGroup, Subscription, Tick
from flock_core.exceptions import ContractViolation

RequestFactory = Callable[..., EvaluationRequest]


class Draft(BaseModel):
    text: str


class Review(BaseModel):
    verdict: str


class Note(BaseModel):
    text: str


def agent(*subscriptions: Subscription) -> AgentSpec:
    return AgentSpec("editor", subscriptions=subscriptions, output_groups=(OutputGroup(("Note",), (Note,)),))


def test_types_are_counted_and_ordered_as_declared(request_for: RequestFactory) -> None:
    spec = agent(Subscription(("Draft", "Review", "Draft"), (Draft, Review, Draft)))
    request = request_for(spec, Review(verdict="ok"), Draft(text="a"), Draft(text="b"))
    assert InputShape.of(request) == InputShape((InputSlot("Draft", Draft, 2), InputSlot("Review", Review, 1)))


def test_batch_context_and_repair_flags(request_for: RequestFactory) -> None:
    spec = agent(Subscription(("Draft",), (Draft,), batch=BatchSpec(size=5)))
    error = ContractViolation("editor", expected="x", got="y")
    request = request_for(
        spec, Draft(text="a"), context=(Note(text="n"),), attempt=1, previous_error=error, batched=True
    )
    assert InputShape.of(request) == InputShape(
        (InputSlot("Draft", Draft, 1),), batched=True, has_context=True, repair=True
    )


def test_undeclared_types_come_last_by_name(request_for: RequestFactory) -> None:
    spec = agent(Subscription(("Review",), (Review,)))
    request = request_for(spec, Note(text="n"), Draft(text="d"), Review(verdict="v"))
    assert [slot.type_name for slot in InputShape.of(request).slots] == ["Review", "Draft", "Note"]


def test_scheduled_activation_without_inputs(request_for: RequestFactory) -> None:
    assert InputShape.of(request_for(agent(), tick=Tick(3, datetime(2026, 1, 1, tzinfo=UTC)))) == InputShape()
