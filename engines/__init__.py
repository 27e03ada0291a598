"""Engines for flockboard: `DSPyEngine`, the signature builder it uses, and the switch for tests.

Importing this package loads neither DSPy nor LiteLLM; they load when an engine first evaluates.
"""

import typing as _typing

from ._dspy_engine import DSPyEngine
from ._embedder import EMBEDDING_MODEL_ENV, LiteLLMEmbedder
from ._guard import ALLOW_MODEL_REQUESTS_ENV, model_requests_allowed, override_allow_model_requests
from ._inputs import ContextItem, PreviousAttempt, PreviousOutput
from ._learning import (
    MANIFEST_FORMAT,
    MANIFEST_SCHEMA_VERSION,
    AgentScore,
    Budget,
    EvaluationReport,
    ExampleLike,
    ExampleResult,
    LearningTask,
    LoadReport,
    ManifestChange,
    Metric,
    Mismatch,
    MismatchReason,
    OptimizationResult,
    OptimizationRun,
    OptimizationState,
    OptimizationStatus,
    OptimizeOptions,
    OptimizerName,
    ReflectedInstructions,
    ReflectionExample,
    ReflectionTask,
    SplitName,
    StopReason,
    TrialKind,
    TrialRecord,
    WorkflowExample,
    WorkflowRun,
    aevaluate,
    aoptimize,
    diff_manifests,
    evaluate,
    export_manifest,
    import_manifest,
    load_learned,
    optimize,
    read_manifest,
    save_learned,
    write_manifest,
)
from ._naming import pluralize, snake_case
from ._prices import Price, price_of
from ._settings import (
    FLOCK_COMPAT_MODEL_ENV,
    MODEL_ENV,
    OFFLINE_MODEL,
    SIMULATED_MODEL,
    AdapterName,
    BackendName,
    ProgramName,
)
from ._shape import InputShape, InputSlot
from ._signature import RESERVED_NAMES, FieldPlan, FieldRole, SignaturePlan, build_signature, plan_signature
from ._simulated import simulated_reply, simulated_responder

if _typing.TYPE_CHECKING:
    from dspy.adapters.baml_adapter import BAMLAdapter

_LAZY = frozenset({"BAMLAdapter"})
"""Names that load DSPy, so they are imported on first use."""


def __getattr__(name: str) -> _typing.Any:
    """`BAMLAdapter` (DSPy's, for `DSPyEngine(adapter=BAMLAdapter())` as in Flock) loads DSPy on first use."""
    if name in _LAZY:
        from dspy.adapters.baml_adapter import BAMLAdapter

        globals()[name] = BAMLAdapter
        return BAMLAdapter
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ALLOW_MODEL_REQUESTS_ENV",
    "EMBEDDING_MODEL_ENV",
    "FLOCK_COMPAT_MODEL_ENV",
    "MANIFEST_FORMAT",
    "MANIFEST_SCHEMA_VERSION",
    "MODEL_ENV",
    "OFFLINE_MODEL",
    "RESERVED_NAMES",
    "SIMULATED_MODEL",
    "AdapterName",
    "AgentScore",
    "BAMLAdapter",
    "BackendName",
    "Budget",
    "ContextItem",
    "DSPyEngine",
    "EvaluationReport",
    "ExampleLike",
    "ExampleResult",
    "FieldPlan",
    "FieldRole",
    "InputShape",
    "InputSlot",
    "LearningTask",
    "LiteLLMEmbedder",
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
    "PreviousAttempt",
    "PreviousOutput",
    "Price",
    "ProgramName",
    "ReflectedInstructions",
    "ReflectionExample",
    "ReflectionTask",
    "SignaturePlan",
    "SplitName",
    "StopReason",
    "TrialKind",
    "TrialRecord",
    "WorkflowExample",
    "WorkflowRun",
    "aevaluate",
    "aoptimize",
    "build_signature",
    "diff_manifests",
    "evaluate",
    "export_manifest",
    "import_manifest",
    "load_learned",
    "model_requests_allowed",
    "optimize",
    "override_allow_model_requests",
    "plan_signature",
    "pluralize",
    "price_of",
    "read_manifest",
    "save_learned",
    "simulated_reply",
    "simulated_responder",
    "snake_case",
    "write_manifest",
]
