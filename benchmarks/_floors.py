"""The floors: each workload's work done without any framework, in our interpreter.

- `overhead_floor`: the deterministic engine's validated models for every stage, in a plain loop.
- `makespan_floor`: the same 41 chat calls in the same dependency order, straight through `httpx`.
- `memory_floor`: the same 100,000 payloads held in a list.
- `durable_floor`: on PostgreSQL, one INSERT of a row like an artifact's, committed on its own, per publish.

They tell how much of a figure is the framework's and how much is Python, Pydantic or HTTP.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import time
import uuid

import httpx
from pydantic import BaseModel

from ._payloads import FAN_OUT, STAGES, Topic, advance, note
from ._protocol import Job, Outcome
from ._rss import peak_rss_mb

__all__ = ["durable_floor", "makespan_floor", "memory_floor", "overhead_floor"]


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


_FLOOR_TABLE = """CREATE TABLE {} (id uuid PRIMARY KEY, type text NOT NULL, payload jsonb NOT NULL,
    correlation_id text NOT NULL, created_at timestamptz NOT NULL DEFAULT now())"""


async def durable_floor(job: Job, started: float) -> Outcome:
    """`job.size` rows like the notes' artifacts inserted one at a time, each its own commit (PostgreSQL).

    What any publisher that returns only once its artifact is durable pays per publish, one after another:
    a round trip and a WAL flush. No framework, no routing, no work items.
    """
    del started
    import psycopg
    from psycopg import sql
    from psycopg.types.json import Jsonb

    outcome = Outcome()
    table = sql.Identifier(f"flock_bench_floor_{uuid.uuid4().hex[:12]}")
    insert = sql.SQL("INSERT INTO {} (id, type, payload, correlation_id) VALUES (%s, %s, %s, %s)").format(table)
    async with await psycopg.AsyncConnection.connect(job.dsn, autocommit=True) as conn:
        await conn.execute(sql.SQL(_FLOOR_TABLE).format(table))
        try:
            for _ in range(job.runs):
                begin = time.perf_counter()
                for i in range(job.size):
                    row = (uuid.uuid4(), "Note", Jsonb(note(i).model_dump(mode="json")), str(uuid.uuid4()))
                    await conn.execute(insert, row)
                outcome.add("publish_per_s", job.size / (time.perf_counter() - begin))
        finally:
            await conn.execute(sql.SQL("DROP TABLE {}").format(table))
    return _info(outcome)
