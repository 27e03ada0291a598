"""What every workload of the suite needs: sizes, both sides' interpreters, and figures from outcomes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from ._protocol import Job, Outcome
from ._report import Cell, Figure, Target
from ._runner import BenchError, Interpreter, run_job, time_snippet

__all__ = ["AHEAD", "DEFAULT_PG_DSN", "FULL", "SMOKE", "Bench", "Sizes", "series"]

DEFAULT_PG_DSN = "postgresql://postgres@127.0.0.1:5432/test"


@dataclass(frozen=True, slots=True)
class Sizes:
    """How big and how often: runs per figure and each workload's size."""

    runs: int = 3
    import_runs: int = 5
    overhead_inputs: int = 1_000
    sqlite_overhead_inputs: int = 200
    flock_default_inputs: int = 20
    latency: float = 0.2
    memory_artifacts: int = 100_000
    durable_inputs: int = 300
    scaling_workers: tuple[int, ...] = (1, 2, 4)
    scaling_inputs: int = 120
    scaling_concurrency: int = 4
    scaling_latency: float = 0.1
    http_requests: int = 2_000
    http_clients: int = 8
    postgres_http_requests: int = 500
    durable_clients: int = 8
    flow_context: int = 50
    backpressure_inputs: int = 100_000
    backpressure_runs: int = 1
    backpressure_bound: int = 1_000
    backpressure_concurrency: int = 256
    backpressure_flock_inputs: int = 100


FULL = Sizes()
SMOKE = Sizes(
    runs=1,
    import_runs=1,
    overhead_inputs=20,
    sqlite_overhead_inputs=5,
    flock_default_inputs=3,
    latency=0.02,
    memory_artifacts=500,
    durable_inputs=5,
    scaling_workers=(1, 2),
    scaling_inputs=4,
    scaling_latency=0.01,
    http_requests=20,
    http_clients=2,
    postgres_http_requests=10,
    durable_clients=2,
    backpressure_inputs=40,
    backpressure_bound=8,
    backpressure_concurrency=4,
    backpressure_flock_inputs=5,
)


@dataclass(frozen=True, slots=True)
class Bench:
    """What every workload needs: sizes, both sides' interpreters (Flock's may be missing) and a log."""

    sizes: Sizes
    ours: Interpreter
    flock: Interpreter | None
    flock_missing: str
    log: Callable[[str], None]

    def run(self, interpreter: Interpreter | None, job: Job, extra: dict[str, str] | None = None) -> Outcome | str:
        """Run `job` on a side; a string says why there is no outcome (Flock skipped, or the run failed)."""
        if interpreter is None:
            return f"skipped: {self.flock_missing}"
        details = [f"size {job.size:,}"] if job.size else []
        details += [f"{job.runs} run(s)"] + ([f"{job.store} store"] if job.store != "memory" else [])
        self.log(f"  {interpreter.side}: {job.workload} ({', '.join(details)})")
        try:
            outcome = run_job(interpreter, job, extra)
        except BenchError as error:
            self.log(f"  failed: {error}")
            return f"failed: {error}"
        unavailable = outcome.info.get("unavailable")
        return str(unavailable) if unavailable is not None else outcome

    def time_imports(self, interpreter: Interpreter | None, statement: str) -> Cell:
        """`statement`'s time in `sizes.import_runs` fresh processes, or why it could not be timed."""
        if interpreter is None:
            return f"skipped: {self.flock_missing}"
        try:
            return Figure.of(time_snippet(interpreter, statement) for _ in range(self.sizes.import_runs))
        except BenchError as error:
            return f"failed: {error}"

    def each_run(self, interpreter: Interpreter | None, job: Job, runs: int) -> list[Outcome] | str:
        """`runs` separate processes of `job` (for figures that must start cold), or why not."""
        outcomes: list[Outcome] = []
        for _ in range(runs):
            outcome = self.run(interpreter, replace(job, runs=1))
            if isinstance(outcome, str):
                return outcome
            outcomes.append(outcome)
        return outcomes


def series(outcome: Outcome | list[Outcome] | str, name: str) -> Cell:
    """The figure of series `name` (across several outcomes too), or the reason there is none."""
    if isinstance(outcome, str):
        return outcome
    outcomes = outcome if isinstance(outcome, list) else [outcome]
    return Figure.of(value for one in outcomes for value in one.series[name])


AHEAD = Target("flock", ">=", 1)
"""Ahead of Flock: the target of every row without one of its own."""
