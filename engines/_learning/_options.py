"""`OptimizeOptions`: how an optimization searches; one record for `optimize`, `aoptimize`, `OptimizationRun`."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from flock_core import Engine
from flock_core.exceptions import ConfigurationError

from ._budget import Budget
from ._results import OptimizerName

if TYPE_CHECKING:
    from dspy.teleprompt import Teleprompter

__all__ = ["OPTIMIZERS", "OptimizeOptions"]

OPTIMIZERS: tuple[OptimizerName, ...] = ("bootstrap", "bootstrap_random_search", "mipro", "gepa")


@dataclass(frozen=True, slots=True)
class OptimizeOptions:
    """How an optimization searches and what bounds it; the same for `optimize`, `aoptimize` and `OptimizationRun`.

    Attributes:
        optimizer: `"bootstrap"` (demos from passing runs: the first `max_demos` per output group),
            `"bootstrap_random_search"` (also scores `num_candidates` random demo subsets and keeps the
            best), `"mipro"` (also proposes `num_instructions` instructions per output group with the
            `proposer` engine and searches instruction and demo combinations), `"gepa"` (evolves each
            agent's instructions by reflecting on failing runs with `reflection_lm`: `num_candidates`
            iterations on minibatches of `minibatch_size` training examples, a Pareto pool of candidates
            scored on the evaluation set), or a DSPy teleprompter instance (compiled per output group; see
            docs/learning.md).
        agents: the agents to optimize (default: all); the others keep their learned state.
        max_demos: the most demos per output group.
        bootstrap_rounds: how many times the bootstrap trial runs the training examples that have not passed
            yet, each round with the demos found so far in the prompts (as DSPy's `BootstrapFewShot(max_rounds=)`).
        num_candidates: random candidates the search optimizers score (`"gepa"`: its iterations).
        num_instructions: instruction proposals per output group (`"mipro"`).
        proposer: the engine that proposes instructions, or whose model a teleprompter uses
            (default: `DSPyEngine()`, on the Flock's model).
        reflection_lm: the reflection model of `"gepa"`: a model name for `DSPyEngine` (`"openai/gpt-4.1"`,
            `"simulated"`) or an engine (default: `proposer`, else `DSPyEngine()` on the Flock's model).
        minibatch_size: the training examples of one `"gepa"` iteration.
        metric_threshold: the score a run needs to pass (without one: above zero, or `True`).
        budget: limits on the model usage of the whole optimization, across resumes.
        concurrency: workflow runs in flight at once.
        run_dir: where each completed trial is checkpointed; an optimization on a directory with a
            checkpoint resumes after its last completed trial.
        seed: seeds the random candidates.

    >>> OptimizeOptions(optimizer="bootstrap_random_search", agents=["triage"]).agents
    ('triage',)
    >>> OptimizeOptions(concurrency=0)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    flock_core.exceptions.ConfigurationError: max_demos, num_candidates and num_instructions must be >= 0, ...
    """

    optimizer: OptimizerName | Teleprompter = "bootstrap"
    agents: Iterable[str] | None = None
    max_demos: int = 4
    bootstrap_rounds: int = 1
    num_candidates: int = 8
    num_instructions: int = 3
    proposer: Engine | None = None
    reflection_lm: str | Engine | None = None
    minibatch_size: int = 8
    metric_threshold: float | None = None
    budget: Budget | None = None
    concurrency: int = 8
    run_dir: str | Path | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.optimizer, str) and self.optimizer not in OPTIMIZERS:
            raise ConfigurationError(f"optimizer must be one of {OPTIMIZERS} or a dspy Teleprompter instance")
        _check_teleprompter(self.optimizer)
        if self.budget is not None and not isinstance(self.budget, Budget):
            raise ConfigurationError(f"budget must be an engines.Budget, got {type(self.budget).__name__}")
        if self.proposer is not None and not callable(getattr(self.proposer, "evaluate", None)):
            raise ConfigurationError(f"proposer must be an Engine (with evaluate), got {type(self.proposer).__name__}")
        if not isinstance(self.optimizer, str) and self.budget is not None:
            raise ConfigurationError("a DSPy teleprompter makes its own model calls: a Budget cannot bound them")
        reflector = self.reflection_lm
        if not (reflector is None or isinstance(reflector, str) or callable(getattr(reflector, "evaluate", None))):
            raise ConfigurationError(f"reflection_lm must be a model name or an Engine, got {type(reflector).__name__}")
        if self.bootstrap_rounds < 1 or self.minibatch_size < 1:
            raise ConfigurationError("bootstrap_rounds and minibatch_size must be at least 1")
        if min(self.max_demos, self.num_candidates, self.num_instructions) < 0 or self.concurrency < 1:
            raise ConfigurationError("max_demos, num_candidates and num_instructions must be >= 0, concurrency >= 1")
        if self.agents is not None and not isinstance(self.agents, tuple):
            object.__setattr__(self, "agents", tuple(self.agents))  # a generator given would be spent by reading

    @property
    def checkpoint_dir(self) -> Path | None:
        """`run_dir` as a `Path`."""
        return Path(self.run_dir) if self.run_dir is not None else None


def _check_teleprompter(optimizer: object) -> None:
    """Fail early, and say what to install, for a teleprompter whose requirements are missing."""
    if isinstance(optimizer, str):
        return
    if not callable(getattr(optimizer, "compile", None)):
        raise ConfigurationError(f"optimizer {optimizer!r} is neither a built-in name nor a dspy Teleprompter")
    if type(optimizer).__name__ == "MIPROv2" and importlib.util.find_spec("optuna") is None:
        raise ConfigurationError(
            "dspy.teleprompt.MIPROv2 searches with optuna, which is not installed: `pip install optuna`, "
            'or use optimizer="mipro" (the workflow-level search, no extra package)'
        )
