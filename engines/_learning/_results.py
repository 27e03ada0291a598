"""The typed records of an optimization: options, trials, progress and the final result."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from flock_core import LearnedState, Usage

from ._runner import StopReason
from ._traces import GroupKey

__all__ = [
    "OptimizationResult",
    "OptimizationState",
    "OptimizationStatus",
    "OptimizerName",
    "TrialKind",
    "TrialRecord",
]

OptimizerName = Literal["bootstrap", "bootstrap_random_search", "mipro", "gepa"]
"""The built-in optimizers (see `engines.optimize`)."""

OptimizationState = Literal["pending", "running", "paused", "cancelled", "finished", "failed"]
"""Where an `OptimizationRun` stands."""

TrialKind = Literal["bootstrap", "propose", "baseline", "candidate", "teleprompter", "reflect"]
"""What a trial did: collect demos, propose instructions, score the starting state, score a candidate,
run a DSPy teleprompter on one output group, or (`"gepa"`) reflect on a minibatch of runs and try the
new instructions on it."""


@dataclass(frozen=True, slots=True)
class TrialRecord:
    """One completed trial.

    Attributes:
        index: its position (0 is the bootstrap trial; for `"gepa"`, the baseline).
        kind: what it did.
        label: which candidate or group it was about (`"bootstrapped"`, `"random 3"`, `"triage/0"`, ...).
        score: the mean metric of its runs (the training set for `bootstrap`, else the evaluation set),
            `None` when it ran no workflow.
        runs: how many workflow runs it made (proposal calls for `propose`, groups compiled for `teleprompter`;
            for `reflect`, the parent's and the child's runs on the minibatch, the reflection call not counted).
        usage: what it cost.
        cost: what it cost in US dollars, as the budget's meter priced its model calls (0.0 for models
            that are free or not metered).
    """

    index: int
    kind: TrialKind
    label: str
    score: float | None
    runs: int
    usage: Usage
    cost: float = 0.0


@dataclass(frozen=True, slots=True)
class OptimizationStatus:
    """The progress of an optimization, as `OptimizationRun.status()` reports it.

    Attributes:
        state: pending, running, cancelled, finished or failed.
        trials_done: completed trials (checkpointed ones included).
        trials_total: the planned number of trials (final once the bootstrap trial is done).
        best_score: the best evaluated score so far.
        usage: LM calls and tokens spent so far (across resumes).
        current_trial: the label of the trial running now.
        stop_reason: why it stopped, once it has.
        cost: US dollars spent so far (across resumes), as the meter priced the model calls.
        trials: the completed trials, in order.
    """

    state: OptimizationState
    trials_done: int
    trials_total: int
    best_score: float | None
    usage: Usage
    current_trial: str | None = None
    stop_reason: StopReason | None = None
    cost: float = 0.0
    trials: tuple[TrialRecord, ...] = ()


@dataclass(frozen=True, slots=True)
class OptimizationResult:
    """What an optimization found.

    Attributes:
        learned: the state chosen for each output group in scope (only those that learned something).
        applied: whether `learned` is now in `flock.learned` (not after a cancel: the starting state is
            restored, and `run_dir` lets a new `optimize` resume).
        baseline_score: the starting state's score (on the evaluation set, else the training set).
        best_score: the chosen candidate's score (`None` when it was never evaluated).
        best_trial: the trial that scored the chosen candidate.
        trials: every completed trial, in order.
        usage: LM calls and tokens of the whole optimization (across resumes).
        stop_reason: `"completed"`, `"budget"` (the budget admitted no further run) or `"cancelled"`.
        resumed_trials: how many trials were loaded from the checkpoint instead of run.
        cost: US dollars spent by the whole optimization (across resumes), as the meter priced the model calls.
    """

    learned: Mapping[GroupKey, LearnedState]
    applied: bool
    baseline_score: float | None
    best_score: float | None
    best_trial: int | None
    trials: tuple[TrialRecord, ...]
    usage: Usage
    stop_reason: StopReason
    resumed_trials: int
    cost: float = 0.0
