"""Learning for workflows: optimize demos and instructions from a metric, evaluate, save and load.

Importing this package loads neither DSPy nor LiteLLM (a DSPy teleprompter loads DSPy when it runs).
"""

from ._api import aoptimize, optimize
from ._budget import Budget
from ._evaluate import EvaluationReport, ExampleResult, aevaluate, evaluate
from ._examples import ExampleLike, Metric, WorkflowExample
from ._optimize import OptimizationRun
from ._options import OptimizeOptions
from ._persist import LoadReport, Mismatch, MismatchReason, load_learned, save_learned
from ._results import (
    OptimizationResult,
    OptimizationState,
    OptimizationStatus,
    OptimizerName,
    TrialKind,
    TrialRecord,
)
from ._runner import StopReason
from ._workflow_run import WorkflowRun

__all__ = [
    "Budget",
    "EvaluationReport",
    "ExampleLike",
    "ExampleResult",
    "LoadReport",
    "Metric",
    "Mismatch",
    "MismatchReason",
    "OptimizationResult",
    "OptimizationRun",
    "OptimizationState",
    "OptimizationStatus",
    "OptimizeOptions",
    "OptimizerName",
    "StopReason",
    "TrialKind",
    "TrialRecord",
    "WorkflowExample",
    "WorkflowRun",
    "aevaluate",
    "aoptimize",
    "evaluate",
    "load_learned",
    "optimize",
    "save_learned",
]
