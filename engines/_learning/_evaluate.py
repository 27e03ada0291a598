"""Scoring a workflow on a labelled set: one run per example, a metric per run, the mean as the score."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import anyio
from pydantic import BaseModel

from flock_core import Flock, Usage

from ._examples import ExampleLike, Metric, WorkflowExample, as_examples
from ._runner import run_examples
from ._workflow_run import WorkflowRun

__all__ = ["AgentScore", "EvaluationReport", "ExampleResult", "aevaluate", "agent_scores", "evaluate", "judge"]

L = TypeVar("L")
_log = logging.getLogger("engines.learning")


@dataclass(frozen=True, slots=True)
class ExampleResult(Generic[L]):
    """How one example went.

    Attributes:
        example: the example.
        run: every artifact of its run.
        output: the run's final output (the last artifact an agent produced), if any.
        score: the metric's value as a number (`True` is 1.0; a metric that raised scores 0.0).
        errors: the run's `WorkflowError` messages, and the metric's exception if it raised.
    """

    example: WorkflowExample[L]
    run: WorkflowRun
    output: BaseModel | None
    score: float
    errors: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class EvaluationReport(Generic[L]):
    """The score of a workflow on a labelled set, and each example's result.

    Attributes:
        score: the mean metric value over the examples (0.0 for an empty set).
        results: one result per example, in the order given.
        usage: the model usage of all runs.
    """

    score: float
    results: tuple[ExampleResult[L], ...]
    usage: Usage

    @property
    def per_agent(self) -> Mapping[str, AgentScore]:
        """Credit from lineage: each agent's score over the runs it took part in (see `AgentScore`)."""
        return agent_scores(self.results)

    @property
    def failed(self) -> list[ExampleResult[L]]:
        """The results with a score of zero or below."""
        return [result for result in self.results if result.score <= 0]


@dataclass(frozen=True, slots=True)
class AgentScore:
    """How the runs an agent took part in scored (credit from lineage).

    Attributes:
        agent: the agent.
        runs: the runs in which it produced an artifact or failed.
        score: the mean metric of those runs.
        failures: the runs in which it failed at least once.
    """

    agent: str
    runs: int
    score: float
    failures: int


def agent_scores(results: Iterable[ExampleResult[Any]]) -> dict[str, AgentScore]:
    """Each agent's `AgentScore` over `results`, by agent name (only agents that took part in a run).

    An agent takes part in a run when the run's lineage shows an artifact it produced or a failure it had.
    A workflow metric judges the whole run, so an agent's score is the mean of the runs it took part in: a
    low score points at the agents on the failing paths, not at one culprit.
    """
    scores: dict[str, list[float]] = {}
    failed: dict[str, int] = {}
    for result in results:
        errors = {error.agent for error in result.run.errors}
        producers = {a.produced_by for a in result.run.artifacts if a.produced_by != "external"}
        for agent in (producers - {"system"}) | errors:
            scores.setdefault(agent, []).append(result.score)
            failed[agent] = failed.get(agent, 0) + (agent in errors)
    return {
        agent: AgentScore(agent, len(values), sum(values) / len(values), failed[agent])
        for agent, values in sorted(scores.items())
    }


def judge(metric: Metric[L], example: WorkflowExample[L], run: WorkflowRun) -> ExampleResult[L]:
    """Apply `metric` to one run. A metric that raises scores 0.0 and its error is recorded (fail closed)."""
    errors = [f"{error.agent}: {error.error_type}: {error.message}" for error in run.errors]
    try:
        score = float(metric(example, run))
    except Exception as exc:  # noqa: BLE001 - a user's metric may raise anything; it is recorded, never swallowed
        _log.warning("the metric raised on run %s: %r", run.correlation_id, exc)
        score, errors = 0.0, [*errors, f"metric: {type(exc).__name__}: {exc}"]
    return ExampleResult(example, run, run.output, score, tuple(errors))


def mean(values: Sequence[float]) -> float:
    """The mean of `values` (0.0 when empty)."""
    return sum(values) / len(values) if values else 0.0


async def aevaluate(
    flock: Flock,
    devset: Iterable[ExampleLike[L]],
    metric: Metric[L],
    *,
    concurrency: int = 8,
    on_progress: Callable[[int, int], None] | None = None,
) -> EvaluationReport[L]:
    """Run the workflow once per example (`concurrency` at a time) and score each run with `metric`.

    Args:
        flock: the workflow, with its current learned state.
        devset: `WorkflowExample`s or `(inputs, expected)` pairs.
        metric: `metric(example, run) -> float | bool`.
        concurrency: how many runs are in flight at once.
        on_progress: called with `(runs done, runs in all)` after each batch of `concurrency` runs.
    """
    examples = as_examples(devset, "devset")
    total = len(examples)

    def on_window(done: int) -> None:
        if on_progress is not None:
            on_progress(done, total)

    batch = await run_examples(flock, examples, concurrency=concurrency, on_window=on_window)
    results = tuple(judge(metric, example, run) for example, run in zip(examples, batch.runs, strict=True))
    usage = sum((run.usage for run in batch.runs), Usage())
    return EvaluationReport(mean([r.score for r in results]), results, usage)


def evaluate(
    flock: Flock,
    devset: Iterable[ExampleLike[L]],
    metric: Metric[L],
    *,
    concurrency: int = 8,
    on_progress: Callable[[int, int], None] | None = None,
) -> EvaluationReport[L]:
    """Synchronous `aevaluate`, for scripts: do not call it from inside an event loop."""
    return anyio.run(lambda: aevaluate(flock, devset, metric, concurrency=concurrency, on_progress=on_progress))
