"""Batch: summarise news items three at a time; the partial batch is flushed when the run goes idle."""

from __future__ import annotations

import anyio
from pydantic import BaseModel

from flock_core import BatchSpec, EvaluationRequest, Flock
from flock_core.testing import FunctionEngine


class NewsItem(BaseModel):
    headline: str


class Digest(BaseModel):
    headlines: list[str]


def digest(request: EvaluationRequest) -> list[BaseModel]:
    return [Digest(headlines=[p.headline for p in request.payloads if isinstance(p, NewsItem)])]


async def main() -> None:
    flock = Flock(engine=FunctionEngine(digest))
    flock.register_type(NewsItem)
    flock.register_type(Digest)
    flock.agent("editor").consumes(NewsItem, batch=BatchSpec(size=3)).publishes(Digest)
    await flock.publish_many([NewsItem(headline=f"story {i}") for i in range(1, 8)])
    await flock.run_until_idle()
    for d in await flock.store.get_by_type(Digest):
        print("digest:", d.headlines)


if __name__ == "__main__":
    anyio.run(main)
