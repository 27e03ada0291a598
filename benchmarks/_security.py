"""Our side of workload 7: the price of the security work.

- `http_publish`: `POST /api/v1/artifacts` requests per second on one keep-alive connection to a real
  server (uvicorn, loopback), one request at a time: the per-request latency of the hardened HTTP path
  (JSON checks, `Host`/`Origin`, headers, visibility of the publish), Nagle's algorithm off.
- `flow_cost`: the information-flow computation of one activation (the visibility its outputs inherit
  from one input and `size` context artifacts, then one declared visibility narrowing it), in µs.
"""

from __future__ import annotations

import asyncio
import gc
import json
import time

from pydantic import BaseModel

from flock_core import Artifact, Flock, LabelledVisibility, PublicVisibility, TenantVisibility, Visibility
from flock_core.agents._flow import output_visibility, read_visibility
from flock_core.serve import start_server

from ._protocol import Job, Outcome

__all__ = ["flow_cost", "http_publish"]


class Ping(BaseModel):
    text: str


async def _round_trip(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> int:
    """Send one request and read its whole response; returns the status code."""
    writer.write(request)
    await writer.drain()
    status = int((await reader.readline()).split()[1])
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        if name.lower() == "content-length":
            length = int(value)
    await reader.readexactly(length)
    return status


async def http_publish(job: Job, started: float) -> Outcome:
    """`job.size` sequential publishes per run over one keep-alive connection."""
    del started
    outcome = Outcome()
    body = json.dumps({"type": "Ping", "payload": {"text": "hello"}}).encode()
    request = (
        b"POST /api/v1/artifacts HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    for _ in range(job.runs):
        flock = Flock()
        flock.register_type(Ping)
        handle = await start_server(flock, port=0, dashboard=False)
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", handle.port)
            await _round_trip(reader, writer, request)  # warm up the route and the connection
            gc.collect()
            begin = time.perf_counter()
            statuses = [await _round_trip(reader, writer, request) for _ in range(job.size)]
            elapsed = time.perf_counter() - begin
            writer.close()
            await writer.wait_closed()
        finally:
            await handle.stop()
        if set(statuses) != {201}:
            raise RuntimeError(f"publishes failed: statuses {sorted(set(statuses))}")
        outcome.add("requests_per_s", job.size / elapsed)
        outcome.add("ms_per_request", elapsed / job.size * 1000)
    return outcome


def _context(size: int) -> list[Artifact]:
    """One workflow's context: public, tenant and labelled artifacts of one tenant, as agents see them."""
    kinds: list[Visibility] = [
        PublicVisibility(),
        TenantVisibility(tenant_id="acme"),
        LabelledVisibility(required_labels=frozenset({"clearance:high"}), tenant="acme"),
    ]
    return [
        Artifact(type="Ping", payload={"text": str(i)}, correlation_id="c", visibility=kinds[i % len(kinds)])
        for i in range(size)
    ]


async def flow_cost(job: Job, started: float) -> Outcome:
    """µs per activation of `read_visibility` over 1 input + `job.size` context artifacts, then one narrowing."""
    del started
    outcome = Outcome()
    read = _context(job.size + 1)
    declared = TenantVisibility(tenant_id="acme")
    activations = 2_000
    for _ in range(job.runs):
        gc.collect()
        begin = time.perf_counter()
        for _ in range(activations):
            output_visibility(read_visibility(read), declared)
        outcome.add("us_per_activation", (time.perf_counter() - begin) / activations * 1e6)
    return outcome
