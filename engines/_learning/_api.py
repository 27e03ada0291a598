"""`optimize` / `aoptimize`: one call that runs an `OptimizationRun` to the end."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

import anyio

from flock_core import Flock

from ._examples import ExampleLike, Metric
from ._optimize import OptimizationRun
from ._options import OptimizeOptions
from ._results import OptimizationResult

__all__ = ["aoptimize", "optimize"]

L = TypeVar("L")


async def aoptimize(
    flock: Flock,
    trainset: Iterable[ExampleLike[L]],
    metric: Metric[L],
    options: OptimizeOptions | None = None,
    *,
    valset: Iterable[ExampleLike[L]] | None = None,
) -> OptimizationResult:
    """Async `optimize` (same arguments)."""
    return await OptimizationRun(flock, trainset, metric, options, valset=valset).run()


def optimize(
    flock: Flock,
    trainset: Iterable[ExampleLike[L]],
    metric: Metric[L],
    options: OptimizeOptions | None = None,
    *,
    valset: Iterable[ExampleLike[L]] | None = None,
) -> OptimizationResult:
    """Optimize the learned state (demos, instructions) of `flock`'s agents for `metric`, and apply it.

    Synchronous, for scripts; inside an event loop use `aoptimize`, or `OptimizationRun` to watch and cancel.

    Args:
        flock: the workflow. Training runs happen on its board, one correlation id each.
        trainset: `WorkflowExample`s or `(inputs, expected)` pairs; demos come from its passing runs.
        metric: `metric(example, run) -> float | bool`. A run passes when its score is at least
            `options.metric_threshold` (without one: above zero, or `True`).
        options: the optimizer and its settings, budget and checkpoint directory (default: `OptimizeOptions()`,
            the `"bootstrap"` optimizer).
        valset: the examples that score candidates (default: the training set).
    """
    return anyio.run(lambda: aoptimize(flock, trainset, metric, options, valset=valset))
