"""The floors: each workload's work done without any framework, in our interpreter.

- `overhead_floor`: the deterministic engine's validated models for every stage, in a plain loop.
- `makespan_floor`: the same 41 chat calls in the same dependency order, straight through `httpx`.
- `memory_floor`: the same 100,000 payloads held in a list.

They tell how much of a figure is the framework's and how much is Python, Pydantic or HTTP.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import time

import httpx
from pydantic import BaseModel

from ._payloads import FAN_OUT, STAGES, Topic, advance, note
from ._protocol import Job, Outcome
from ._rss import peak_rss_mb

__all__ = ["makespan_floor", "memory_floor", "overhead_floor"]


def _info(outcome: Outcome) -> Outcome:
    outcome.info.update(framework="none", python=sys.version.split()[0])
    return outcome


async def overhead_floor(job: Job, started: float) -> Outcome:
    """The engine work of `overhead` for `job.size` topics per run, with no framework around it."""
    del started
    outcome = Outcome()
    for _ in range(job.runs):
        gc.collect()
        begin = time.perf_counter()
        reviews: list[BaseModel] = []
        for i in range(job.size):
            payload: BaseModel = Topic(name=f"topic {i}")
            for _stage in STAGES:
                payload = advance(payload)
            reviews.append(payload)
        elapsed = time.perf_counter() - begin
        outcome.add("artifacts_per_s", len(reviews) / elapsed)
        outcome.add("us_per_activation", elapsed / (len(STAGES) * job.size) * 1e6)
    return _info(outcome)


def _chat(field: str, type_label: str, description: str) -> dict[str, object]:
    system = f"Your output fields are:\n1. `{field}` ({type_label}): {description}\nAll interactions"
    return {"model": "bench", "messages": [{"role": "system", "content": system}, {"role": "user", "content": "go"}]}


async def makespan_floor(job: Job, started: float) -> Outcome:
    """One plan call, then `FAN_OUT` chains of a draft call and a review call, concurrently, over HTTP."""
    del started
    outcome = Outcome()
    limits = httpx.Limits(max_connections=FAN_OUT * 2, max_keepalive_connections=FAN_OUT * 2)
    async with httpx.AsyncClient(base_url=job.base_url, limits=limits, timeout=60) as client:

        async def call(body: dict[str, object]) -> None:
            response = await client.post("/chat/completions", json=body)
            response.raise_for_status()

        async def chain() -> None:
            await call(_chat("draft", "Draft", "The draft."))
            await call(_chat("review", "Review", "The review."))

        for run in range(job.warmup + job.runs):
            window_start, begin = time.time(), time.perf_counter()
            await call(_chat("ideas", "list[Idea]", f"Exactly {FAN_OUT} ideas."))
            await asyncio.gather(*(chain() for _ in range(FAN_OUT)))
            elapsed = time.perf_counter() - begin
            outcome.windows.append((window_start, time.time()))
            if run >= job.warmup:
                outcome.add("makespan_s", elapsed)
    return _info(outcome)


async def memory_floor(job: Job, started: float) -> Outcome:
    """Peak RSS with `job.size` payloads in a plain list (one run per process)."""
    del started
    outcome = Outcome()
    outcome.add("baseline_mb", peak_rss_mb())
    begin = time.perf_counter()
    payloads = [note(i) for i in range(job.size)]
    outcome.add("publish_s", time.perf_counter() - begin)
    outcome.add("peak_mb", peak_rss_mb())
    outcome.info["kept"] = len(payloads)
    return _info(outcome)
