"""flock_core: typed agents that react to artifacts on a shared blackboard.

>>> from pydantic import BaseModel
>>> from flock_core import Flock
>>> from flock_core.testing import FunctionEngine
>>> class Question(BaseModel):
...     text: str
>>> class Answer(BaseModel):
...     text: str
>>> flock = Flock(engine=FunctionEngine(lambda r: [Answer(text=r.payloads[0].text.upper())]))
>>> _ = flock.register_type(Question), flock.register_type(Answer)
>>> _ = flock.agent("answerer").consumes(Question).publishes(Answer)
>>> flock.run(Question(text="why?")).get(Answer)
[Answer(text='WHY?')]
"""

import importlib
from typing import TYPE_CHECKING, Any

from ._artifacts import Artifact, WorkflowError
from ._builder import AgentBuilder
from ._clock import Clock, SystemClock
from ._collectors import ExpiredJoin
from ._components import AgentComponent
from ._context import (
    ContextProvider,
    ContextRequest,
    CorrelationContext,
    FilteredContext,
    NoContext,
    RecentContext,
)
from ._engine import Engine, EvaluationRequest, EvaluationResult, Usage
from ._events import (
    ActivationFailed,
    ActivationFinished,
    ActivationStarted,
    ArtifactPublished,
    EventBus,
    FlockEvent,
    TokenStreamed,
)
from ._flock import Flock
from ._memory_store import InMemoryBlackboardStore
from ._patterns import BatchSpec, JoinSpec, ScheduleSpec, Tick
from ._registry import TypeRegistry, flock_type, type_name_of
from ._resume import ResumeReport
from ._scheduler import Rejection
from ._spec import AgentSpec, BestOf, FanOut, OutputGroup, Subscription
from ._status import CorrelationState, CorrelationStatus, RunResult
from ._store import ArtifactPage, ArtifactQuery, BlackboardStore
from ._version import __version__
from ._visibility import (
    AfterVisibility,
    AgentIdentity,
    LabelledVisibility,
    PrivateVisibility,
    PublicVisibility,
    TenantVisibility,
    Visibility,
)
from ._work import Commit, TimerState, WorkRecord, WorkStatus

if TYPE_CHECKING:
    from ._conditions import ArtifactCount, Condition, ConditionView, Exists, Idle, WorkflowFailed
    from ._learned import Demo, LearnedState
    from ._mcp import McpServerSpec
    from ._postgres_store import PostgresBlackboardStore
    from ._retention import RetentionResult
    from ._serve import ApiKeys
    from ._sqlite_store import SQLiteBlackboardStore
    from ._tracing import active_tracer

_LAZY = {
    "ApiKeys": "._serve",
    "ArtifactCount": "._conditions",
    "Condition": "._conditions",
    "ConditionView": "._conditions",
    "Demo": "._learned",
    "Exists": "._conditions",
    "Idle": "._conditions",
    "LearnedState": "._learned",
    "McpServerSpec": "._mcp",
    "PostgresBlackboardStore": "._postgres_store",
    "RetentionResult": "._retention",
    "SQLiteBlackboardStore": "._sqlite_store",
    "WorkflowFailed": "._conditions",
    "active_tracer": "._tracing",
}


def __getattr__(name: str) -> Any:
    """Import optional parts (stores, MCP, HTTP server, run conditions, learned state) on first use."""
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ActivationFailed",
    "ActivationFinished",
    "ActivationStarted",
    "AfterVisibility",
    "AgentBuilder",
    "AgentComponent",
    "AgentIdentity",
    "AgentSpec",
    "ApiKeys",
    "Artifact",
    "ArtifactCount",
    "ArtifactPage",
    "ArtifactPublished",
    "ArtifactQuery",
    "BatchSpec",
    "BestOf",
    "BlackboardStore",
    "Clock",
    "Commit",
    "Condition",
    "ConditionView",
    "ContextProvider",
    "ContextRequest",
    "CorrelationContext",
    "CorrelationState",
    "CorrelationStatus",
    "Demo",
    "Engine",
    "EvaluationRequest",
    "EvaluationResult",
    "EventBus",
    "Exists",
    "ExpiredJoin",
    "FanOut",
    "FilteredContext",
    "Flock",
    "FlockEvent",
    "Idle",
    "InMemoryBlackboardStore",
    "JoinSpec",
    "LabelledVisibility",
    "LearnedState",
    "McpServerSpec",
    "NoContext",
    "OutputGroup",
    "PostgresBlackboardStore",
    "PrivateVisibility",
    "PublicVisibility",
    "RecentContext",
    "Rejection",
    "ResumeReport",
    "RetentionResult",
    "RunResult",
    "SQLiteBlackboardStore",
    "ScheduleSpec",
    "Subscription",
    "SystemClock",
    "TenantVisibility",
    "Tick",
    "TimerState",
    "TokenStreamed",
    "TypeRegistry",
    "Usage",
    "Visibility",
    "WorkRecord",
    "WorkStatus",
    "WorkflowError",
    "WorkflowFailed",
    "__version__",
    "active_tracer",
    "flock_type",
    "type_name_of",
]
