"""The Flock that the worker-scaling benchmark's `flock worker` processes load.

`flock worker benchmarks._scaling_app:flock` builds it from `FLOCK_PG_DSN`, `FLOCK_BENCH_SCHEMA` and
`FLOCK_BENCH_BASE_URL` (the fake model): the first two stages of the benchmark pipeline (`Topic -> Idea
-> Draft`), each a call through the DSPy engine. In a worker, DSPy and LiteLLM are imported with the
module, so the measured runs do not include a worker's first-use imports.
"""

from __future__ import annotations

import importlib
import os

from engines import DSPyEngine
from engines._settings import prepare_environment
from flock_core import Flock
from flock_core.blackboard.postgres._store import PostgresBlackboardStore

from ._payloads import MODELS, STAGES

__all__ = ["OUTPUT", "SCALED_STAGES", "build", "flock"]

SCALED_STAGES = STAGES[:2]
"""The stages each input goes through: two model calls per input."""
OUTPUT = SCALED_STAGES[-1].publishes
"""The type whose count says an input is done."""


def build(dsn: str, schema: str, base_url: str) -> Flock:
    """The two-stage pipeline on the PostgreSQL board `schema`, calling the fake model at `base_url`."""
    engine = DSPyEngine("openai/bench", api_base=base_url, api_key="sk-bench", num_retries=0)
    made = Flock(store=PostgresBlackboardStore(dsn, schema=schema), engine=engine)
    for model in MODELS:
        made.register_type(model)
    for stage in SCALED_STAGES:
        made.agent(stage.agent).description(stage.description).consumes(stage.consumes).publishes(stage.publishes)
    return made


def _preload() -> None:
    """Import DSPy and LiteLLM now (as the engine would: no price-list download), not in a measured run."""
    prepare_environment()
    for name in ("dspy", "litellm"):
        importlib.import_module(name)


flock: Flock | None = None
if "FLOCK_BENCH_SCHEMA" in os.environ:  # loaded by a worker process
    _preload()
    flock = build(os.environ["FLOCK_PG_DSN"], os.environ["FLOCK_BENCH_SCHEMA"], os.environ["FLOCK_BENCH_BASE_URL"])
