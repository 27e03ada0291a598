"""The pipeline that `test_crash.py` kills and resumes, run as a child process on a SQLite file.

Usage: `python crash_pipeline.py BOARD.db TOPICS`. The same command starts a run and resumes one: it
publishes the topics that are not on the board yet (so a kill while seeding loses none), resumes whatever
was in flight, and runs until idle. It prints `stored PRODUCER INPUT_IDS...` for every artifact it stores
(so the parent can count finished activations) and `idle` at the end.

Each topic is its own workflow: a writer fans out 3 drafts, a reviewer reviews each draft, an editor joins
each draft with its review (`JoinSpec` by topic and part), and a summarizer waits for the 3 finals of its
topic (a count gate). The engine is deterministic and sleeps a few milliseconds per activation.
"""

from __future__ import annotations

import sys
from datetime import timedelta
from typing import Any

import anyio
from pydantic import BaseModel

from flock_core import Artifact, EvaluationRequest, Flock, JoinSpec
from flock_core.blackboard.sqlite._store import SQLiteBlackboardStore
from flock_core.testing import FunctionEngine

ACTIVATION_SECONDS = 0.004
MAX_CONCURRENCY = 3


class Topic(BaseModel):
    n: int


class Draft(BaseModel):
    topic: int
    part: int


class Review(BaseModel):
    topic: int
    part: int
    score: int


class Final(BaseModel):
    topic: int
    part: int
    text: str


class Summary(BaseModel):
    topic: int
    texts: list[str]


def _join_key(payload: Any) -> tuple[int, int]:
    return payload.topic, payload.part


async def work(request: EvaluationRequest) -> list[BaseModel]:
    """The deterministic engine of every agent: outputs depend only on the inputs."""
    await anyio.sleep(ACTIVATION_SECONDS)
    name, payloads = request.agent.name, request.payloads
    if name == "writer":
        topic = payloads[0]
        assert isinstance(topic, Topic)
        return [Draft(topic=topic.n, part=part) for part in range(3)]
    if name == "reviewer":
        draft = payloads[0]
        assert isinstance(draft, Draft)
        return [Review(topic=draft.topic, part=draft.part, score=(draft.topic * 7 + draft.part * 3) % 10)]
    if name == "editor":
        draft = next(p for p in payloads if isinstance(p, Draft))
        review = next(p for p in payloads if isinstance(p, Review))
        return [Final(topic=draft.topic, part=draft.part, text=f"t{draft.topic}p{draft.part}s{review.score}")]
    finals = [p for p in payloads if isinstance(p, Final)]
    return [Summary(topic=finals[0].topic, texts=sorted(f.text for f in finals))]


def declare(flock: Flock) -> None:
    """Register the types and declare the four agents."""
    for model in (Topic, Draft, Review, Final, Summary):
        flock.register_type(model)
    flock.agent("writer").consumes(Topic).publishes(Draft, fan_out=3)
    flock.agent("reviewer").consumes(Draft).publishes(Review)
    join = JoinSpec(by=_join_key, within=timedelta(hours=1))
    flock.agent("editor").consumes(Draft, Review, join=join).publishes(Final)
    flock.agent("summarizer").consumes(Final, Final, Final).publishes(Summary)


def report(artifact: Artifact) -> None:
    print("stored", artifact.produced_by, *sorted(str(i) for i in artifact.consumed_from), flush=True)


async def main(path: str, topics: int) -> None:
    """Seed the missing topics, resume, run until idle."""
    flock = Flock(engine=FunctionEngine(work), store=SQLiteBlackboardStore(path), max_concurrency=MAX_CONCURRENCY)
    declare(flock)
    flock.add_listener(report)
    async with flock:
        await flock.start()
        seeded = {topic.n for topic in await flock.get_by_type(Topic)}
        for n in range(topics):
            if n not in seeded:
                await flock.publish(Topic(n=n), correlation_id=f"topic-{n}")
        await flock.run_until_idle()
    print("idle", flush=True)


if __name__ == "__main__":
    anyio.run(main, sys.argv[1], int(sys.argv[2]))
