"""What the orchestrator asks of a side's driver process, and what the driver answers. Standard library only.

The orchestrator writes a `Job` as JSON, runs `python -m benchmarks._driver SIDE JOB_FILE OUT_FILE` with the
side's interpreter, and reads the `Outcome` the driver wrote to `OUT_FILE` (never stdout: Flock logs there).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

__all__ = ["STAGE_NAMES", "Job", "Outcome", "Side", "StoreKind", "WorkloadName"]

Side = Literal["ours", "flock"]
"""Which framework a driver runs."""
WorkloadName = Literal[
    "overhead",
    "overhead_floor",
    "overhead_stages",
    "makespan",
    "makespan_floor",
    "makespan_dspy",
    "first_output",
    "memory",
    "memory_floor",
    "durable",
    "durable_floor",
    "durable_statement",
    "scaling",
    "http_publish",
    "http_floor",
    "flow_cost",
    "backpressure",
]
"""The workloads a driver implements; the `*_floor` ones (ours only) do the same work without a framework."""
StoreKind = Literal["memory", "sqlite", "postgres"]
"""The blackboard store of the `durable` workload."""
STAGE_NAMES = (
    "publish an input (validate, workflow, span)",
    "route (subscriptions, visibility, work items)",
    "commit: store (artifacts, work items, completion)",
    "commit: listeners, queue hand-off",
    "lease the work item",
    "run_item: span, breaker, budgets, step lock",
    "context (query, visibility)",
    "run: hooks, requests, output visibility",
    "engine (the agent's own work)",
    "contract (validate outputs, counts)",
    "build output artifacts",
    "other: runtime scheduling, tasks, loop",
)
"""The stages of one activation that `overhead_stages` times, in the order of the loop; `other` last."""


@dataclass(frozen=True, slots=True)
class Job:
    """One workload for one driver process.

    Attributes:
        workload: what to run.
        size: inputs (overhead, floor, durable, scaling) or artifacts (memory) per run.
        runs: measured runs, each on a fresh `Flock` (except `makespan`, whose runs share a board).
        base_url: the fake model server (makespan, scaling, first_output with `lm`).
        concurrency: activations allowed at once per agent (Flock) or per Flock (ours; per worker in scaling).
        store: the store of the `durable` workload.
        dsn: the PostgreSQL server of the `durable` and `scaling` workloads.
        lm: `first_output` through the DSPy engine and the fake model instead of a deterministic engine.
        warmup: unmeasured runs first (makespan: loads DSPy and fills the board with one workflow).
        workers: `flock worker` processes of the `scaling` workload.
        max_pending: the `backpressure` workload's `Flock(max_pending=...)` (0: no bound).
        clients: concurrent clients, each sending one request (or publish) at a time: keep-alive
            connections (`http_publish`) or publishing tasks (`durable`).
        timeout: seconds the driver process may take before the measurement fails.
    """

    workload: WorkloadName
    size: int = 0
    runs: int = 1
    base_url: str = ""
    concurrency: int = 64
    store: StoreKind = "memory"
    dsn: str = ""
    lm: bool = False
    warmup: int = 0
    workers: int = 1
    max_pending: int = 0
    clients: int = 1
    timeout: float = 600.0

    def dump(self, path: Path) -> None:
        """Write the job as JSON."""
        path.write_text(json.dumps(asdict(self)))

    @classmethod
    def load(cls, path: Path) -> Job:
        """Read a job written by `dump`."""
        return cls(**cast(dict[str, Any], json.loads(path.read_text())))


@dataclass(slots=True)
class Outcome:
    """What a driver measured: named series (one value per run) and facts about the run.

    `windows` holds each run's `(start, end)` wall-clock times (`time.time()`), so that the model server's
    requests can be attributed to runs; `info` holds versions and counts (strings or numbers).
    """

    series: dict[str, list[float]] = field(default_factory=dict[str, list[float]])
    windows: list[tuple[float, float]] = field(default_factory=list[tuple[float, float]])
    info: dict[str, str | float] = field(default_factory=dict[str, str | float])

    def add(self, name: str, value: float) -> None:
        """Append one run's value to the series `name`."""
        self.series.setdefault(name, []).append(value)

    def dump(self, path: Path) -> None:
        """Write the outcome as JSON."""
        path.write_text(json.dumps(asdict(self)))

    @classmethod
    def load(cls, path: Path) -> Outcome:
        """Read an outcome written by `dump`."""
        raw = cast(dict[str, Any], json.loads(path.read_text()))
        windows = [(float(start), float(end)) for start, end in cast(list[list[float]], raw["windows"])]
        return cls(series=raw["series"], windows=windows, info=raw["info"])
