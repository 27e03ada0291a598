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

from ._budget import Budget, BudgetLimit, BudgetStatus
from ._clock import Clock, SystemClock
from ._flock import Flock
from ._version import __version__
from .agents._approval import ApprovalPolicy
from .agents._builder import AgentBuilder
from .agents._components import AgentComponent
from .agents._context import (
    ContextProvider,
    ContextRequest,
    CorrelationContext,
    FilteredContext,
    NoContext,
    RecentContext,
)
from .agents._engine import Engine, EvaluationRequest, EvaluationResult, Usage
from .agents._filtered import FilterConfig, FilteredContextProvider
from .agents._flock_style import ComponentContext, EngineComponent, EvalInputs, EvalResult, UtilityComponent
from .agents._handle import AgentHandle
from .agents._history import ConversationHistory
from .agents._patterns import BatchSpec, JoinSpec, ScheduleSpec
from .agents._retry import Backoff, RetryPolicy, is_transient
from .agents._semantic import Embedder, Semantic
from .agents._spec import AgentSpec, BestOf, FanOut, OutputGroup, Subscription
from .agents._spending import CallGate
from .agents._tool import flock_tool
from .blackboard._approvals import ApprovalRequest
from .blackboard._artifacts import ApprovalRejected, Artifact, WorkflowError
from .blackboard._registry import TypeRegistry, flock_type, type_name_of
from .blackboard._store import (
    ArtifactLog,
    ArtifactPage,
    ArtifactQuery,
    BlackboardStore,
    RunState,
    StoredBudget,
    WorkflowBudgets,
    WorkflowControls,
    WorkQueue,
)
from .blackboard._visibility import (
    AfterVisibility,
    AgentIdentity,
    ComposedVisibility,
    DeclassifiedVisibility,
    LabelledVisibility,
    PrivateVisibility,
    PublicVisibility,
    TenantVisibility,
    Visibility,
    combine,
)
from .blackboard._work import Commit, ExpiredJoin, Tick, TimerState, WorkRecord, WorkStatus
from .blackboard.memory._store import InMemoryBlackboardStore
from .orchestration._dead_letters import DeadLetter
from .orchestration._events import (
    ActivationFailed,
    ActivationFinished,
    ActivationStarted,
    ApprovalDecided,
    ApprovalRequested,
    ArtifactPublished,
    EventBus,
    FlockEvent,
    OptimizationProgress,
    TokenStreamed,
)
from .orchestration._resume import ResumeReport, SkippedWork
from .orchestration._scheduler import Rejection
from .orchestration._status import CorrelationState, CorrelationStatus, RunResult

if TYPE_CHECKING:
    from ._tracing import active_tracer, captures_messages
    from .agents._learned import Demo, LearnedState
    from .blackboard.postgres._store import PostgresBlackboardStore
    from .blackboard.sqlite._retention import RetentionResult
    from .blackboard.sqlite._store import SQLiteBlackboardStore
    from .mcp import McpServerSpec, StdioServerParameters, StreamableHttpServerParameters
    from .orchestration._conditions import ArtifactCount, Condition, ConditionView, Exists, Idle, WorkflowFailed
    from .orchestration._conversation import Conversation, Turn
    from .orchestration._until import Until, When
    from .serve import ApiKeys

_LAZY = {
    "ApiKeys": ".serve",
    "ArtifactCount": ".orchestration._conditions",
    "Condition": ".orchestration._conditions",
    "ConditionView": ".orchestration._conditions",
    "Conversation": ".orchestration._conversation",
    "Demo": ".agents._learned",
    "Exists": ".orchestration._conditions",
    "Idle": ".orchestration._conditions",
    "LearnedState": ".agents._learned",
    "McpServerSpec": ".mcp",
    "PostgresBlackboardStore": ".blackboard.postgres._store",
    "RetentionResult": ".blackboard.sqlite._retention",
    "SQLiteBlackboardStore": ".blackboard.sqlite._store",
    "StdioServerParameters": ".mcp",
    "StreamableHttpServerParameters": ".mcp",
    "Turn": ".orchestration._conversation",
    "Until": ".orchestration._until",
    "When": ".orchestration._until",
    "WorkflowFailed": ".orchestration._conditions",
    "active_tracer": "._tracing",
    "captures_messages": "._tracing",
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
    "AgentHandle",
    "AgentIdentity",
    "AgentSpec",
    "ApiKeys",
    "ApprovalDecided",
    "ApprovalPolicy",
    "ApprovalRejected",
    "ApprovalRequest",
    "ApprovalRequested",
    "Artifact",
    "ArtifactCount",
    "ArtifactLog",
    "ArtifactPage",
    "ArtifactPublished",
    "ArtifactQuery",
    "Backoff",
    "BatchSpec",
    "BestOf",
    "BlackboardStore",
    "Budget",
    "BudgetLimit",
    "BudgetStatus",
    "CallGate",
    "Clock",
    "Commit",
    "ComponentContext",
    "ComposedVisibility",
    "Condition",
    "ConditionView",
    "ContextProvider",
    "ContextRequest",
    "Conversation",
    "ConversationHistory",
    "CorrelationContext",
    "CorrelationState",
    "CorrelationStatus",
    "DeadLetter",
    "DeclassifiedVisibility",
    "Demo",
    "Embedder",
    "Engine",
    "EngineComponent",
    "EvalInputs",
    "EvalResult",
    "EvaluationRequest",
    "EvaluationResult",
    "EventBus",
    "Exists",
    "ExpiredJoin",
    "FanOut",
    "FilterConfig",
    "FilteredContext",
    "FilteredContextProvider",
    "Flock",
    "FlockEvent",
    "Idle",
    "InMemoryBlackboardStore",
    "JoinSpec",
    "LabelledVisibility",
    "LearnedState",
    "McpServerSpec",
    "NoContext",
    "OptimizationProgress",
    "OutputGroup",
    "PostgresBlackboardStore",
    "PrivateVisibility",
    "PublicVisibility",
    "RecentContext",
    "Rejection",
    "ResumeReport",
    "RetentionResult",
    "RetryPolicy",
    "RunResult",
    "RunState",
    "SQLiteBlackboardStore",
    "ScheduleSpec",
    "Semantic",
    "SkippedWork",
    "StdioServerParameters",
    "StoredBudget",
    "StreamableHttpServerParameters",
    "Subscription",
    "SystemClock",
    "TenantVisibility",
    "Tick",
    "TimerState",
    "TokenStreamed",
    "Turn",
    "TypeRegistry",
    "Until",
    "Usage",
    "UtilityComponent",
    "Visibility",
    "When",
    "WorkQueue",
    "WorkRecord",
    "WorkStatus",
    "WorkflowBudgets",
    "WorkflowControls",
    "WorkflowError",
    "WorkflowFailed",
    "__version__",
    "active_tracer",
    "captures_messages",
    "combine",
    "flock_tool",
    "flock_type",
    "is_transient",
    "type_name_of",
]
