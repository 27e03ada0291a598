"""The Flock that `test_worker_stream.py` runs with `flock worker --stream`: one agent whose engine streams.

The board is `FLOCK_PG_DSN` / `FLOCK_PG_SCHEMA`. `writer` streams its story in three chunks (two lines)
through `request.on_token` when a token subscriber listens, then publishes it.
"""

from __future__ import annotations

import os

from pydantic import BaseModel

from flock_core import EvaluationRequest, Flock
from flock_core.blackboard.postgres._store import PostgresBlackboardStore
from flock_core.testing import FunctionEngine

DSN = os.environ.get("FLOCK_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
SCHEMA = os.environ.get("FLOCK_PG_SCHEMA", "flock")


class Prompt(BaseModel):
    topic: str


class Story(BaseModel):
    text: str


def write(request: EvaluationRequest) -> list[BaseModel]:
    prompt = request.payloads[0]
    assert isinstance(prompt, Prompt)
    chunks = ["Once upon", f" a time\nthere was a {prompt.topic}", "."]
    if request.on_token is not None:
        for chunk in chunks:
            request.on_token(chunk)
    return [Story(text="".join(chunks))]


flock = Flock(store=PostgresBlackboardStore(DSN, schema=SCHEMA), engine=FunctionEngine(write))
flock.register_type(Prompt)
flock.register_type(Story)
flock.agent("writer").consumes(Prompt).publishes(Story)
