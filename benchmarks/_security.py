"""Our side of workload 7: the price of the security work.

- `http_publish`: `POST /api/v1/artifacts` requests per second on keep-alive connections to a real
  server (uvicorn, loopback), one request at a time per connection: the per-request latency of the
  hardened HTTP path (JSON checks, `Host`/`Origin`, headers, visibility of the publish), Nagle's algorithm
  off. Flock's side (`_flock_side`) sends the same requests with the same client to Flock's REST API.
- `flow_cost`: the information-flow computation of one activation (the visibility its outputs inherit
  from one input and `size` context artifacts, then one declared visibility narrowing it), in µs.
"""

from __future__ import annotations

import gc
import time

from flock_core import Artifact, Flock, LabelledVisibility, PublicVisibility, TenantVisibility, Visibility
from flock_core.agents._flow import output_visibility, read_visibility
from flock_core.serve import start_server

from ._http_client import http_parser, publish_requests
from ._payloads import Note
from ._protocol import Job, Outcome

__all__ = ["flow_cost", "http_publish"]


async def http_publish(job: Job, started: float) -> Outcome:
    """`job.size` publishes per run through `POST /api/v1/artifacts` (see `_http_client`), on `job.store`."""
    from ._ours_side import postgres_problem, store_for  # that module imports this one

    del started
    outcome = Outcome()
    if job.store == "postgres" and (problem := postgres_problem(job.dsn)) is not None:
        outcome.info["unavailable"] = problem
        return outcome
    for _ in range(job.runs):
        with store_for(job) as store:
            flock = Flock(store=store)
            flock.register_type(Note)
            handle = await start_server(flock, port=0, dashboard=False)
            try:
                gc.collect()
                elapsed = await publish_requests(f"http://127.0.0.1:{handle.port}", job.size, job.clients)
                stored = len(await flock.get_by_type(Note))
            finally:
                await handle.stop()
                await flock.shutdown()
        if stored != job.size + job.clients:  # the warm-up requests publish too
            raise RuntimeError(f"expected {job.size + job.clients} Note, found {stored}")
        outcome.add("requests_per_s", job.size / elapsed)
        outcome.add("ms_per_request", elapsed / job.size * 1000)
    outcome.info["http_parser"] = http_parser()
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
