"""Running a workflow once per example: each run in its own correlation id, a bounded number at a time."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from flock_core import Flock, Usage
from flock_core.exceptions import ConfigurationError

from .._meter import metering
from ._budget import Spending
from ._examples import WorkflowExample
from ._workflow_run import WorkflowRun, collect_run

__all__ = ["Batch", "StopReason", "run_examples"]

StopReason = Literal["completed", "budget", "cancelled"]
"""Why a batch of runs (or an optimization) stopped."""


@dataclass(frozen=True, slots=True)
class Batch:
    """The runs of a batch, in example order (only the examples that were started), and why it stopped."""

    runs: tuple[WorkflowRun, ...]
    stop: StopReason

    @property
    def usage(self) -> Usage:
        """What the runs cost together."""
        return sum((run.usage for run in self.runs), Usage())


async def run_examples(
    flock: Flock,
    examples: Sequence[WorkflowExample[Any]],
    *,
    concurrency: int,
    spending: Spending | None = None,
    first_estimate: int = 1,
    cancelled: Callable[[], bool] = lambda: False,
    on_window: Callable[[int], None] | None = None,
    paused: Callable[[], Awaitable[None]] | None = None,
    prefix: str = "learn-",
) -> Batch:
    """Run the workflow on each example, `concurrency` at a time, while the budget admits and nobody cancels.

    Each window publishes the inputs of up to `concurrency` examples (one new correlation id each) and
    runs the board until idle, with the budget's meter installed at the model calls; the budget and
    `cancelled()` are checked before each window, so a run that started always finishes (a call the
    meter refuses ends its run with an error, and the batch stops with `"budget"`). `on_window(runs_done)` is
    called after each window (the optimizer checkpoints its spending there); `paused()` is awaited before each.
    Every run's correlation id starts with `prefix`.
    """
    if concurrency < 1:
        raise ConfigurationError("concurrency must be at least 1")
    runs: list[WorkflowRun] = []
    while len(runs) < len(examples):
        if paused is not None:
            await paused()
        if cancelled():
            return Batch(tuple(runs), "cancelled")
        wanted = min(concurrency, len(examples) - len(runs))
        size = spending.admit("run", wanted, first_estimate=first_estimate) if spending is not None else wanted
        if size == 0:
            return Batch(tuple(runs), "budget")
        window = examples[len(runs) : len(runs) + size]
        done, refused = await _run_window(flock, window, spending, prefix)
        runs.extend(done)
        if on_window is not None:
            on_window(len(runs))
        if refused:
            return Batch(tuple(runs), "budget")  # a call was refused: its run is incomplete
    return Batch(tuple(runs), "completed")


async def _run_window(
    flock: Flock, window: Sequence[WorkflowExample[Any]], spending: Spending | None, prefix: str
) -> tuple[list[WorkflowRun], bool]:
    """Publish each example's inputs under a new correlation id, run the board until idle, collect the runs;
    and whether the meter refused a call meanwhile."""
    refused = spending.meter.refused if spending is not None else 0
    correlation_ids = [f"{prefix}{uuid.uuid4().hex}" for _ in window]
    cost_before = spending.cost if spending is not None else 0.0
    with metering(spending.meter) if spending is not None else contextlib.nullcontext():
        for example, correlation_id in zip(window, correlation_ids, strict=True):
            for payload in example.inputs:
                await flock.publish(payload, correlation_id=correlation_id)
        shown, flock.show_results = flock.show_results, False  # training and scoring runs print no result tables
        try:
            await flock.run_until_idle()
        finally:
            flock.show_results = shown
    runs = [await collect_run(flock, correlation_id) for correlation_id in correlation_ids]
    if spending is not None:
        for run in runs:
            spending.record("run", run.usage)
        spending.record_cost(len(window), spending.cost - cost_before)
    return runs, spending is not None and spending.meter.refused > refused
