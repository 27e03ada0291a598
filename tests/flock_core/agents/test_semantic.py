"""Declaring semantic subscriptions: the frozen conditions, and the mistakes named where they are made."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from flock_core import Flock, Semantic, Subscription
from flock_core.agents._semantic import artifact_text, cosine
from flock_core.exceptions import AgentDeclarationError
from flock_core.testing import FunctionEngine


class Ticket(BaseModel):
    subject: str
    body: str


class Reply(BaseModel):
    text: str


def flock() -> Flock:
    flock = Flock(engine=FunctionEngine(lambda r: [Reply(text="ok")]))
    flock.register_type(Ticket)
    flock.register_type(Reply)
    return flock


def test_query_string_and_threshold_become_one_condition() -> None:
    agent = flock().agent("refunds").consumes(Ticket, semantic="refund request", threshold=0.6).publishes(Reply)
    assert agent.spec.subscriptions == (
        Subscription(types=("Ticket",), models=(Ticket,), semantic=(Semantic("refund request", 0.6),)),
    )


def test_field_conditions_are_kept_in_order() -> None:
    conditions = [Semantic("refund", 0.4, field="subject"), Semantic("angry customer", 0.3)]
    agent = flock().agent("refunds").consumes(Ticket, semantic=conditions)
    assert agent.spec.subscriptions[0].semantic == tuple(conditions)


def test_default_threshold() -> None:
    agent = flock().agent("refunds").consumes(Ticket, semantic="refund request")
    assert agent.spec.subscriptions[0].semantic == (Semantic("refund request", 0.5),)


@pytest.mark.parametrize(
    ("semantic", "threshold", "argument", "problem"),
    [
        ("", None, "semantic", "semantic= query must not be empty"),
        ("refund", 1.5, "threshold", "semantic threshold must be a cosine similarity in [-1, 1], got 1.5"),
        ("refund", "high", "threshold", "semantic threshold must be a cosine similarity in [-1, 1], got 'high'"),
        (
            Semantic("refund"),
            0.4,
            "threshold",
            "threshold= goes with a semantic= query string; a Semantic(...) carries its own",
        ),
        (Semantic("refund", field="amount"), None, "semantic", "semantic field 'amount' is not a field of Ticket"),
        (["refund"], None, "semantic", "semantic= takes a query string or Semantic(...), got 'refund'"),
    ],
)
def test_mistakes_are_named(semantic: object, threshold: object, argument: str, problem: str) -> None:
    with pytest.raises(AgentDeclarationError) as caught:
        flock().agent("refunds").consumes(Ticket, semantic=semantic, threshold=threshold)  # pyright: ignore[reportArgumentType]
    assert (str(caught.value), caught.value.argument) == (f"agent 'refunds': {problem}", argument)


def test_artifact_text_and_cosine() -> None:
    payload = {"subject": "Refund", "body": "money back", "meta": {"tags": ["billing"]}, "n": 3}
    assert artifact_text(payload, None) == "Refund\nmoney back\nbilling"
    assert artifact_text(payload, "body") == "money back"
    assert artifact_text(payload, "missing") == ""
    assert cosine([3.0, 4.0], [3.0, 4.0]) == pytest.approx(1.0)
    assert cosine([0.0, 0.0], [1.0, 0.0]) == 0.0
    with pytest.raises(ValueError, match="vectors of different lengths: 1 and 2"):
        cosine([1.0], [1.0, 0.0])
