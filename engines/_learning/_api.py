"""`optimize` / `aoptimize`: one call that runs an `OptimizationRun` to the end."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import anyio

from flock_core import Engine, Flock

from ._budget import Budget
from ._examples import ExampleLike, Metric
from ._optimize import OptimizationRun
from ._results import OptimizationResult, OptimizerName

if TYPE_CHECKING:
    from dspy.teleprompt import Teleprompter

__all__ = ["aoptimize", "optimize"]

L = TypeVar("L")


async def aoptimize(
    flock: Flock,
    trainset: Iterable[ExampleLike[L]],
    metric: Metric[L],
    *,
    optimizer: OptimizerName | Teleprompter = "bootstrap",
    agents: Iterable[str] | None = None,
    valset: Iterable[ExampleLike[L]] | None = None,
    max_demos: int = 4,
    num_candidates: int = 8,
    num_instructions: int = 3,
    proposer: Engine | None = None,
    metric_threshold: float | None = None,
    budget: Budget | None = None,
    concurrency: int = 8,
    run_dir: str | Path | None = None,
    seed: int = 0,
) -> OptimizationResult:
    """Optimize the learned state of `flock`'s agents for `metric` and apply it (the arguments of `optimize`)."""
    run = OptimizationRun(
        flock,
        trainset,
        metric,
        optimizer=optimizer,
        agents=agents,
        valset=valset,
        max_demos=max_demos,
        num_candidates=num_candidates,
        num_instructions=num_instructions,
        proposer=proposer,
        metric_threshold=metric_threshold,
        budget=budget,
        concurrency=concurrency,
        run_dir=run_dir,
        seed=seed,
    )
    return await run.run()


def optimize(
    flock: Flock,
    trainset: Iterable[ExampleLike[L]],
    metric: Metric[L],
    *,
    optimizer: OptimizerName | Teleprompter = "bootstrap",
    agents: Iterable[str] | None = None,
    valset: Iterable[ExampleLike[L]] | None = None,
    max_demos: int = 4,
    num_candidates: int = 8,
    num_instructions: int = 3,
    proposer: Engine | None = None,
    metric_threshold: float | None = None,
    budget: Budget | None = None,
    concurrency: int = 8,
    run_dir: str | Path | None = None,
    seed: int = 0,
) -> OptimizationResult:
    """Optimize the learned state (demos, instructions) of `flock`'s agents for `metric`, and apply it.

    Synchronous, for scripts; inside an event loop use `aoptimize`, or `OptimizationRun` to watch and cancel.

    Args:
        flock: the workflow. Training runs happen on its board, one correlation id each.
        trainset: `WorkflowExample`s or `(inputs, expected)` pairs; demos come from its passing runs.
        metric: `metric(example, run) -> float | bool`. A run passes when its score is at least
            `metric_threshold` (without one: above zero, or `True`).
        optimizer: `"bootstrap"` (demos from passing runs: the first `max_demos` per output group),
            `"bootstrap_random_search"` (also scores `num_candidates` random demo subsets and keeps the
            best), `"mipro"` (also proposes `num_instructions` instructions per output group with the
            `proposer` engine and searches instruction and demo combinations), or a DSPy teleprompter
            instance (compiled per output group; see docs/learning.md).
        agents: the agents to optimize (default: all); the others keep their learned state.
        valset: the examples that score candidates (default: the training set).
        max_demos: the most demos per output group.
        num_candidates: random candidates the search optimizers score.
        num_instructions: instruction proposals per output group (`"mipro"`).
        proposer: the engine that proposes instructions, or whose model a teleprompter uses
            (default: `DSPyEngine()`, on the Flock's model).
        metric_threshold: the score a run needs to pass.
        budget: limits on LM calls and tokens, checked before each batch of runs starts.
        concurrency: workflow runs in flight at once.
        run_dir: where each completed trial is checkpointed; an optimization on a directory with a
            checkpoint resumes after its last completed trial.
        seed: seeds the random candidates.
    """
    return anyio.run(
        lambda: aoptimize(
            flock,
            trainset,
            metric,
            optimizer=optimizer,
            agents=agents,
            valset=valset,
            max_demos=max_demos,
            num_candidates=num_candidates,
            num_instructions=num_instructions,
            proposer=proposer,
            metric_threshold=metric_threshold,
            budget=budget,
            concurrency=concurrency,
            run_dir=run_dir,
            seed=seed,
        )
    )
