"""Tests of `flock_core.testing._capture`: recording what a `Flock` publishes."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from flock_core import EvaluationRequest, Flock
from flock_core.testing import FunctionEngine, capture

pytestmark = pytest.mark.anyio


class Question(BaseModel):
    text: str


class Answer(BaseModel):
    text: str


def shout(request: EvaluationRequest) -> list[BaseModel]:
    (question,) = request.payloads
    assert isinstance(question, Question)
    return [Answer(text=question.text.upper())]


def make_flock() -> Flock:
    flock = Flock(engine=FunctionEngine(shout))
    flock.register_type(Question)
    flock.register_type(Answer)
    flock.agent("answerer").consumes(Question).publishes(Answer)
    return flock


async def test_capture_records_artifacts_in_order() -> None:
    flock = make_flock()
    captured = capture(flock)

    await flock.publish(Question(text="why?"))
    await flock.run_until_idle(timeout=5)
    await flock.publish(Question(text="how?"))
    await flock.run_until_idle(timeout=5)

    assert captured.types() == ["Question", "Answer", "Question", "Answer"]
    assert captured.of(Question) == [Question(text="why?"), Question(text="how?")]
    assert captured.of(Answer) == [Answer(text="WHY?"), Answer(text="HOW?")]
    assert [a.payload for a in captured.by("answerer")] == [{"text": "WHY?"}, {"text": "HOW?"}]
    assert [a.payload for a in captured.by("external")] == [{"text": "why?"}, {"text": "how?"}]
    assert captured.by("nobody") == []
    answer, question = captured.artifacts[1], captured.artifacts[0]
    assert (answer.consumed_from, answer.correlation_id) == ((question.id,), question.correlation_id)


async def test_capture_sees_only_what_is_stored_after_it_starts() -> None:
    flock = make_flock()
    await flock.publish(Question(text="before"))
    captured = capture(flock)
    await flock.run_until_idle(timeout=5)
    assert captured.of(Answer) == [Answer(text="BEFORE")]
    assert captured.types() == ["Answer"]


async def test_stop_stops_recording() -> None:
    flock = make_flock()
    captured = capture(flock)
    await flock.publish(Question(text="one"))
    await flock.run_until_idle(timeout=5)

    captured.stop()
    await flock.publish(Question(text="two"))
    await flock.run_until_idle(timeout=5)

    assert captured.types() == ["Question", "Answer"]
    assert captured.of(Answer) == [Answer(text="ONE")]


async def test_two_captures_are_independent() -> None:
    flock = make_flock()
    first = capture(flock)
    await flock.publish(Question(text="one"))
    second = capture(flock)
    await flock.run_until_idle(timeout=5)
    first.stop()
    await flock.publish(Question(text="two"))
    await flock.run_until_idle(timeout=5)
    assert (first.types(), second.types()) == (
        ["Question", "Answer"],
        ["Answer", "Question", "Answer"],
    )
