"""The client of the HTTP publish workload, the same on both sides: httpx, keep-alive connections, one body.

It runs under either framework's interpreter (both have httpx), in the process that serves the API, so
client and server share that process (and the machine's CPUs) on both sides alike.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import time

import httpx

from ._payloads import note

__all__ = ["PATH", "http_parser", "publish_requests"]

PATH = "/api/v1/artifacts"
"""Where both frameworks' REST APIs take a published artifact: `{"type": ..., "payload": {...}}`."""


def http_parser() -> str:
    """What uvicorn parses HTTP with in this interpreter: httptools when installed (its `auto`), else h11."""
    return "httptools" if importlib.util.find_spec("httptools") is not None else "h11"


async def publish_requests(base_url: str, size: int, connections: int = 1) -> float:
    """Seconds for `size` POSTs of the same `Note`, one request at a time on each of `connections`.

    Each connection is opened and used once before the clock starts; a response other than 2xx fails the run.
    """
    content = json.dumps({"type": "Note", "payload": note(0).model_dump()}).encode()
    headers = {"content-type": "application/json"}
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=60.0) as client:

        async def send(count: int) -> None:
            for _ in range(count):
                response = await client.post(PATH, content=content, headers=headers)
                if not response.is_success:
                    raise RuntimeError(f"POST {PATH}: {response.status_code} {response.text[:300]}")

        await asyncio.gather(*(send(1) for _ in range(connections)))
        begin = time.perf_counter()
        await asyncio.gather(*(send(size // connections + (k < size % connections)) for k in range(connections)))
        return time.perf_counter() - begin
