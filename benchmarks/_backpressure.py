"""Our side of the back-pressure workload: peak RSS while inputs flow through a model-bound 3-stage pipeline.

Every stage's engine sleeps 10 ms (a model call) and the board is a SQLite file, so what stays in memory
is the run's own state: the queue of activations, their inputs, and the routing state. With
`Flock(max_pending=...)` publishing waits for room (running the queue itself), so the queue stays bounded;
without it, all inputs are queued before the first one is processed.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import anyio
from pydantic import BaseModel

from flock_core import EvaluationRequest, Flock, SQLiteBlackboardStore
from flock_core.testing import FunctionEngine

from ._payloads import MODEL_LATENCY, MODELS, STAGES, Review, Topic, advance
from ._protocol import Job, Outcome
from ._rss import peak_rss_mb

__all__ = ["backpressure"]


async def _model(request: EvaluationRequest) -> list[BaseModel]:
    await anyio.sleep(MODEL_LATENCY)
    return [advance(request.payloads[0])]


async def backpressure(job: Job, started: float) -> Outcome:
    """`job.size` topics through the pipeline on SQLite, bounded by `job.max_pending` (0: no bound)."""
    del started
    outcome = Outcome()
    with tempfile.TemporaryDirectory(prefix="flock-bench-") as folder:
        flock = Flock(
            store=SQLiteBlackboardStore(Path(folder) / "board.db"),
            engine=FunctionEngine(_model),
            max_concurrency=job.concurrency,
            max_pending=job.max_pending or None,
        )
        for model in MODELS:
            flock.register_type(model)
        for stage in STAGES:
            flock.agent(stage.agent).consumes(stage.consumes).publishes(stage.publishes)
        await flock.start()
        outcome.add("baseline_mb", peak_rss_mb())
        begin = time.perf_counter()
        for i in range(job.size):
            await flock.publish(Topic(name=f"topic {i}"))
        await flock.run_until_idle()
        elapsed = time.perf_counter() - begin
        outcome.add("peak_mb", peak_rss_mb())
        outcome.add("inputs_per_s", job.size / elapsed)
        reviews = len(await flock.get_by_type(Review))
        await flock.shutdown()
    if reviews != job.size:
        raise RuntimeError(f"expected {job.size} Review, found {reviews}")
    outcome.info.update(inputs=job.size, max_pending=job.max_pending)
    return outcome
