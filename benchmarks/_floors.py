"""The floors: each workload's work done without any framework, in our interpreter.

- `overhead_floor`: the deterministic engine's validated models for every stage, in a plain loop.
- `makespan_floor`: the same 41 chat calls in the same dependency order, straight through `httpx`.
- `memory_floor`: the same 100,000 payloads held in a list.
- `durable_floor`: on PostgreSQL, one INSERT of a row like an artifact's, committed on its own, per publish.
- `durable_statement`: on PostgreSQL, the store's own publish statement on its own schema, per publish.
- `http_floor`: the HTTP publish requests answered by a bare Starlette route on uvicorn (parse, validate, keep).

They tell how much of a figure is the framework's and how much is Python, Pydantic or HTTP.
"""

from __future__ import annotations

import asyncio
import gc
import json
import sys
import time
import uuid
from dataclasses import replace

import httpx
from pydantic import BaseModel

from ._payloads import FAN_OUT, STAGES, Topic, advance, note
from ._protocol import Job, Outcome
from ._rss import peak_rss_mb

__all__ = ["durable_floor", "durable_statement", "http_floor", "makespan_floor", "memory_floor", "overhead_floor"]


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


async def durable_statement(job: Job, started: float) -> Outcome:
    """`job.size` publishes as the PostgreSQL store sends a lone one, one after another, without the framework.

    The store's statement (the sequence lock, the insert, the change notice) with each artifact's JSON, on
    one connection to a fresh board's schema: what the schema itself (its indexes, the generated tenant and
    visibility columns, row-level security) costs per publish, next to `durable_floor`'s plain table.
    """
    del started
    import psycopg
    from psycopg import sql

    from flock_core import Artifact
    from flock_core.blackboard.postgres import _statements as pg
    from flock_core.blackboard.postgres._names import advisory_key
    from flock_core.blackboard.postgres._store import PostgresBlackboardStore

    from ._ours_side import store_for  # that module imports this one

    outcome = Outcome()
    board = replace(job, store="postgres")
    for _ in range(job.runs):
        with store_for(board) as store:
            assert isinstance(store, PostgresBlackboardStore)
            await store.append(Artifact(type="Note", payload=note(0).model_dump(), correlation_id="schema"))
            await store.close()  # the schema is migrated; the statements below run on a connection of their own
            lock, channel = advisory_key("flock_core:seq", store.schema), f"flock_{store.schema}"
            async with await psycopg.AsyncConnection.connect(job.dsn, autocommit=True) as conn:
                await conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(store.schema)))
                begin = time.perf_counter()
                for i in range(job.size):
                    artifact = Artifact(type="Note", payload=note(i).model_dump(), correlation_id=str(uuid.uuid4()))
                    published = await conn.execute(pg.PUBLISH_ONE, (lock, artifact.model_dump_json(), channel))
                    await published.fetchone()
                outcome.add("publish_per_s", job.size / (time.perf_counter() - begin))
                stored = await (await conn.execute("SELECT count(*) FROM artifacts")).fetchone()
            if stored != (job.size + 1,):  # and the one that created the schema
                raise RuntimeError(f"expected {job.size + 1} artifacts in {store.schema}, found {stored}")
    return _info(outcome)


async def http_floor(job: Job, started: float) -> Outcome:
    """`job.size` requests of the HTTP publish workload per run, to a route that only does what any must.

    The route reads the body, parses it, validates the payload as a `Note` and keeps it in a list, then
    answers 201 with the id it gave it: no auth, no checks, no board. Same client, same uvicorn defaults.
    """
    del started
    import socket

    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from ._http_client import PATH, http_parser, publish_requests
    from ._payloads import Note

    kept: list[Note] = []

    async def publish(request: Request) -> Response:
        body = json.loads(await request.body())
        kept.append(Note.model_validate(body["payload"]))
        return Response(json.dumps({"id": len(kept)}), status_code=201, media_type="application/json")

    outcome = Outcome()
    app = Starlette(routes=[Route(PATH, publish, methods=["POST"])])
    for _ in range(job.runs):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP) as sock:  # TCP_NODELAY, as ours
            sock.bind(("127.0.0.1", 0))
            server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
            task = asyncio.create_task(server.serve(sockets=[sock]))
            while not server.started and not task.done():  # noqa: ASYNC110 - uvicorn has no "started" event
                await asyncio.sleep(0.01)
            try:
                gc.collect()
                elapsed = await publish_requests(f"http://127.0.0.1:{sock.getsockname()[1]}", job.size, job.clients)
            finally:
                server.should_exit = True
                await task
        outcome.add("requests_per_s", job.size / elapsed)
        outcome.add("ms_per_request", elapsed / job.size * 1000)
    outcome.info["http_parser"] = http_parser()
    return _info(outcome)
