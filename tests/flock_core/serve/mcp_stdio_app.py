"""A Flock for `flock serve mcp_stdio_app:flock --mcp-stdio` (started by the MCP server tests).

`answerer` is public; `acme_answerer` is an agent of tenant acme, the only one that may read what a caller
of tenant acme publishes.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from flock_core import EvaluationRequest, Flock
from flock_core.testing import FunctionEngine


class Question(BaseModel):
    text: str = Field(min_length=1)


class Answer(BaseModel):
    text: str


def answer(request: EvaluationRequest) -> list[BaseModel]:
    question = request.payloads[0]
    assert isinstance(question, Question)
    return [Answer(text=question.text.upper())]


flock = Flock(engine=FunctionEngine(answer))
flock.register_type(Question)
flock.register_type(Answer)
flock.agent("answerer").consumes(Question).publishes(Answer)
flock.agent("acme_answerer").tenant("acme").consumes(Question).publishes(Answer)
