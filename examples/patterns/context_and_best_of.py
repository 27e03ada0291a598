"""Context providers and best-of: an answerer sees only its own workflow; a judge keeps the best of 3 drafts."""

from __future__ import annotations

import itertools

import anyio
from pydantic import BaseModel, Field

from flock_core import EvaluationRequest, Flock
from flock_core.testing import FunctionEngine


class Fact(BaseModel):
    text: str


class Question(BaseModel):
    text: str


class Answer(BaseModel):
    text: str
    confidence: float = Field(ge=0, le=1)


_confidence = itertools.cycle([0.4, 0.9, 0.7])


def answer(request: EvaluationRequest) -> list[BaseModel]:
    facts = [str(a.payload["text"]) for a in request.context if a.type == "Fact"]
    return [Answer(text=f"based on {facts}", confidence=next(_confidence))]


async def main() -> None:
    flock = Flock(engine=FunctionEngine(answer))
    for model in (Fact, Question, Answer):
        flock.register_type(model)
    flock.agent("answerer").consumes(Question).publishes(Answer).best_of(3, score=lambda out: out[0].confidence)
    await flock.publish(Fact(text="the sky is blue"), correlation_id="weather")
    await flock.publish(Fact(text="an unrelated fact"), correlation_id="other")
    await flock.publish(Question(text="what colour is the sky?"), correlation_id="weather")
    await flock.run_until_idle()
    [best] = await flock.store.get_by_type(Answer)
    print(f"{best.text} (confidence {best.confidence})")


if __name__ == "__main__":
    anyio.run(main)
