"""Learning for workflows: optimize demos and instructions from a metric, evaluate, save and load.

Importing this package loads neither DSPy nor LiteLLM (a DSPy teleprompter loads DSPy when it runs).
"""

from ._api import aoptimize, optimize
from ._budget import Budget
from ._evaluate import AgentScore, EvaluationReport, ExampleResult, aevaluate, evaluate
from ._examples import ExampleLike, Metric, WorkflowExample
from ._manifest import (
    MANIFEST_FORMAT,
    MANIFEST_SCHEMA_VERSION,
    ManifestChange,
    diff_manifests,
    export_manifest,
    import_manifest,
    read_manifest,
    write_manifest,
)
from ._optimize import OptimizationRun
from ._options import OptimizeOptions
from ._persist import LoadReport, Mismatch, MismatchReason, load_learned, save_learned
from ._reflection import ReflectedInstructions, ReflectionExample, ReflectionTask
from ._results import (
    OptimizationResult,
    OptimizationState,
    OptimizationStatus,
    OptimizerName,
    TrialKind,
    TrialRecord,
)
from ._runner import StopReason
from ._task import LearningTask, SplitName
from ._workflow_run import WorkflowRun

__all__ = [
    "MANIFEST_FORMAT",
    "MANIFEST_SCHEMA_VERSION",
    "AgentScore",
    "Budget",
    "EvaluationReport",
    "ExampleLike",
    "ExampleResult",
    "LearningTask",
    "LoadReport",
    "ManifestChange",
    "Metric",
    "Mismatch",
    "MismatchReason",
    "OptimizationResult",
    "OptimizationRun",
    "OptimizationState",
    "OptimizationStatus",
    "OptimizeOptions",
    "OptimizerName",
    "ReflectedInstructions",
    "ReflectionExample",
    "ReflectionTask",
    "SplitName",
    "StopReason",
    "TrialKind",
    "TrialRecord",
    "WorkflowExample",
    "WorkflowRun",
    "aevaluate",
    "aoptimize",
    "diff_manifests",
    "evaluate",
    "export_manifest",
    "import_manifest",
    "load_learned",
    "optimize",
    "read_manifest",
    "save_learned",
    "write_manifest",
]
