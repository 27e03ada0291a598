"""The Flock that `test_workers.py` runs in several processes on one PostgreSQL schema.

`flock worker pipeline:flock` runs its agents (with the working directory set to this folder). Run as a
script, it publishes and waits, printing one JSON line at the end:

    python pipeline.py items N         publish N `Item`s, then wait until the board is idle
    python pipeline.py publish TYPE ID publish one `Order` or `Payment` and exit
    python pipeline.py nap SECONDS     publish one `Nap` (its activation sleeps that long) and exit
    python pipeline.py memos           publish a memo for tenants acme and globex and a public one, then wait
    python pipeline.py wait            wait until the board is idle

A waiting publisher routes when it holds the router lock but claims no work. The board is
`FLOCK_PG_DSN` / `FLOCK_PG_SCHEMA`; `FLOCK_TEST_LEASE` is the work lease in seconds (short, so that the
work of a killed worker is taken over quickly).
"""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import timedelta

import anyio
from pydantic import BaseModel

from flock_core import ArtifactQuery, EvaluationRequest, Flock, JoinSpec, TenantVisibility
from flock_core.blackboard.postgres._store import PostgresBlackboardStore
from flock_core.testing import FunctionEngine

DSN = os.environ.get("FLOCK_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
SCHEMA = os.environ.get("FLOCK_PG_SCHEMA", "flock")
LEASE = timedelta(seconds=float(os.environ.get("FLOCK_TEST_LEASE", "30")))
PUBLISHERS = 8


class Item(BaseModel):
    n: int


class Mid(BaseModel):
    n: int
    pid: int


class Out(BaseModel):
    n: int
    pid: int


class Order(BaseModel):
    order_id: int


class Payment(BaseModel):
    order_id: int


class Shipment(BaseModel):
    order_id: int
    pid: int


class Nap(BaseModel):
    seconds: float


class Woke(BaseModel):
    pid: int


class Memo(BaseModel):
    tenant: str


class Report(BaseModel):
    reader: str
    memo: str
    seen: list[str]


async def work(request: EvaluationRequest) -> list[BaseModel]:
    """Every agent's engine: a few milliseconds of "work", outputs that name the process."""
    await anyio.sleep(0.002)
    name, first, pid = request.agent.name, request.payloads[0], os.getpid()
    if name == "stage1":
        assert isinstance(first, Item)
        return [Mid(n=first.n, pid=pid)]
    if name == "stage2":
        assert isinstance(first, Mid)
        return [Out(n=first.n, pid=pid)]
    if name == "ship":
        return [Shipment(order_id=getattr(first, "order_id", -1), pid=pid)]
    if name == "sleeper":
        assert isinstance(first, Nap)
        await anyio.sleep(first.seconds)
        return [Woke(pid=pid)]
    assert isinstance(first, Memo)
    # A raw query without any visibility filter: only the database's row-level security applies.
    everything = await flock.store.query(ArtifactQuery())
    seen = {getattr(a.visibility, "tenant_id", "public") for a in everything.items}
    return [Report(reader=name, memo=first.tenant, seen=sorted(seen))]


def build(store: PostgresBlackboardStore) -> Flock:
    """Declare the types and agents every process of the tests shares."""
    made = Flock(store=store, engine=FunctionEngine(work), max_concurrency=8, lease=LEASE)
    for model in (Item, Mid, Out, Order, Payment, Shipment, Nap, Woke, Memo, Report):
        made.register_type(model)
    made.agent("stage1").consumes(Item).publishes(Mid)
    made.agent("stage2").consumes(Mid).publishes(Out)
    join = JoinSpec(by=lambda p: p.order_id, within=timedelta(minutes=5))
    made.agent("ship").consumes(Order, Payment, join=join).publishes(Shipment)
    made.agent("sleeper").consumes(Nap).publishes(Woke)
    for tenant in ("acme", "globex"):
        made.agent(f"{tenant}_reader").tenant(tenant).consumes(Memo).publishes(Report)
    return made


flock = build(PostgresBlackboardStore(DSN, schema=SCHEMA))


async def wait() -> float:
    """Route (when leading) and wait until every process is done, claiming nothing; returns the seconds."""
    flock._core.board.stop_claiming()
    started = time.monotonic()
    await flock.run_until_idle(timeout=120)
    return time.monotonic() - started


async def main(command: str, *args: str) -> dict[str, object]:
    """Run one command (see the module docstring)."""
    async with flock:
        if command == "items":
            count = int(args[0])
            async with anyio.create_task_group() as group:
                for first in range(PUBLISHERS):
                    items = [Item(n=n) for n in range(first, count, PUBLISHERS)]
                    group.start_soon(flock.publish_many, items)
            return {"idle_seconds": await wait()}
        if command == "publish":
            model = {"Order": Order, "Payment": Payment}[args[0]]
            artifact = await flock.publish(model(order_id=int(args[1])))
            return {"id": str(artifact.id)}
        if command == "nap":
            return {"id": str((await flock.publish(Nap(seconds=float(args[0])))).id)}
        if command == "memos":
            for tenant in ("acme", "globex"):
                await flock.publish(Memo(tenant=tenant), visibility=TenantVisibility(tenant_id=tenant))
            await flock.publish(Memo(tenant="public"))
            return {"idle_seconds": await wait()}
        assert command == "wait", command
        return {"idle_seconds": await wait()}


if __name__ == "__main__":
    print(json.dumps(anyio.run(main, sys.argv[1], *sys.argv[2:])), flush=True)
