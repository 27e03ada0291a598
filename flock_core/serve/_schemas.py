"""The HTTP API's response bodies as Pydantic models: the source of the OpenAPI document's response schemas.

The routes build their JSON with the functions of `_views`; these models describe exactly that JSON (a test
validates real responses against them, with unknown fields forbidden), so a generated client parses what
the server sends.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..blackboard._artifacts import Artifact

__all__ = [
    "RESPONSE_MODELS",
    "AgentList",
    "ApprovalList",
    "ArtifactPage",
    "ControlResponse",
    "ConversationPage",
    "DeadLetterList",
    "DecisionResponse",
    "Error",
    "Health",
    "ReplayResult",
    "RunResponse",
    "TurnResponse",
    "TypeList",
    "WorkflowStatus",
]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorDetail(_Body):
    """One problem with one field of a request."""

    field: str = Field(description="The dotted location of the field (`payload.text`, `limit`, `<root>`).")
    message: str


class ErrorBody(_Body):
    """What went wrong: a stable `code` for programs, a `message` for people, per-field `details`."""

    code: str = Field(description="A stable machine-readable code (`not_found`, `invalid_payload`, ...).")
    message: str
    details: list[ErrorDetail] = Field(default_factory=list[ErrorDetail], description="Absent when empty.")


class Error(_Body):
    """The body of every error response."""

    error: ErrorBody


class ArtifactPage(_Body):
    """One page of the artifacts the caller may see, oldest first."""

    items: list[Artifact]
    total: int = Field(description="Matches in all pages.")
    offset: int
    limit: int
    next_offset: int | None = Field(description="The offset of the next page; null on the last page.")


class JoinView(_Body):
    within: float | int | None = Field(description="Seconds (a time window) or a count of artifacts.")


class BatchView(_Body):
    size: int
    timeout: float | int | None = Field(description="Seconds.")
    scope: Literal["board", "correlation"]


class SubscriptionView(_Body):
    types: list[str]
    from_agents: list[str] | None
    tags: list[str] | None
    priority: int
    filters: int = Field(description="How many `where` predicates filter the inputs.")
    join: JoinView | None
    batch: BatchView | None


class FanOutView(_Body):
    low: int
    high: int
    text: str


class OutputGroupView(_Body):
    types: list[str]
    fan_out: FanOutView
    description: str | None
    visibility: dict[str, Any] | None = Field(description="A declared visibility, `{kind: computed}`, or null.")


class AgentView(_Body):
    """An agent declaration: what it consumes and publishes, and the identity it acts under."""

    name: str
    description: str | None
    subscriptions: list[SubscriptionView]
    output_groups: list[OutputGroupView]
    labels: list[str]
    tenant: str | None
    tools: list[str]
    max_concurrency: int | None
    scheduled: bool


class AgentList(_Body):
    agents: list[AgentView]


class TypeInfo(_Body):
    name: str
    json_schema: dict[str, Any] = Field(alias="schema", description="The payload's JSON schema.")


class TypeList(_Body):
    types: list[TypeInfo]


class RunResponse(_Body):
    """The outputs of a direct run that the caller may see."""

    agent: str
    published: bool
    outputs: list[Artifact]


class UsageView(_Body):
    input_tokens: int
    output_tokens: int
    calls: int
    cost: float = Field(default=0.0, description="US dollars, from LiteLLM's bundled price map.")


class BudgetLimitView(_Body):
    name: str = Field(description="The limit that refused a model call: max_calls, max_cost, ...")
    limit: float
    spent: float


class BudgetView(_Body):
    """A workflow's budget, what it spent and what is left of each limit."""

    limit: dict[str, float] = Field(description="The budget's limits by name (max_calls, max_cost, ...).")
    spent: UsageView
    elapsed: float = Field(description="Seconds since the workflow's budget started.")
    remaining: dict[str, float] = Field(description="What is left of each limit, by name.")
    exceeded: BudgetLimitView | None = Field(default=None, description="The limit that stopped the workflow.")


class WorkflowStatus(_Body):
    """Where one workflow stands; the counts are of the artifacts the caller may see."""

    correlation_id: str
    state: Literal["active", "completed", "failed", "cancelled", "paused", "awaiting_approval"]
    artifact_count: int
    error_count: int
    pending_activations: int
    waiting_gate_inputs: int
    waiting_join_inputs: int
    waiting_batch_inputs: int
    delayed_artifacts: int
    usage: UsageView
    cancel_reason: str | None = Field(default=None, description="Why the workflow was cancelled, if it was.")
    pending_approvals: int = Field(default=0, description="Requests holding outputs of the workflow for approval.")
    budget: BudgetView | None = Field(default=None, description="The workflow's budget, if it has one.")


class ControlResponse(_Body):
    """What a cancel, pause or resume did."""

    correlation_id: str | None = Field(description="The workflow; null for the whole board.")
    state: Literal["cancelled"] | None = Field(default=None, description="`cancelled` after a cancellation.")
    cancelled_work_items: int | None = Field(default=None, description="Queued or running work items cancelled.")
    paused: bool | None = Field(default=None, description="Whether it is paused now (pause and resume).")


class ApprovalView(_Body):
    """Outputs of one activation held until one of the approvers decides."""

    id: str
    agent: str
    correlation_id: str
    approvers: list[str]
    requested_at: str
    deadline: str | None = Field(description="When the request times out; null: never.")
    on_timeout: Literal["approved", "rejected"]
    artifacts: list[Artifact] = Field(description="The held outputs, exactly as they would be published.")


class ApprovalList(_Body):
    """The pending requests the caller may decide, oldest first."""

    approvals: list[ApprovalView]


class DecisionResponse(_Body):
    """What a decision published: the held outputs (approved) or the `ApprovalRejected` record."""

    approval_id: str
    outcome: Literal["approved", "rejected"]
    by: str = Field(description="The approver: the authenticated caller.")
    published: list[Artifact] = Field(description="What was published, as far as the caller may see it.")


class TurnResponse(_Body):
    """One turn of a conversation: the message taken, and the replies to it that the caller may see."""

    conversation_id: str
    state: Literal["active", "completed", "failed", "cancelled", "paused"] = Field(
        description="The conversation's workflow state when the response was made."
    )
    settled: bool = Field(description="Whether the agents finished (false: the wait ran out; read the history later).")
    message: Artifact
    replies: list[Artifact] = Field(description="Artifacts derived from the message, oldest first (errors included).")


class ConversationPage(_Body):
    """The latest turns of a conversation that the caller may see, oldest first."""

    conversation_id: str
    items: list[Artifact]
    total: int = Field(description="How many turns of the conversation the caller may see in all.")


class DeadLetterView(_Body):
    """A work item that failed for good, with the error of its last attempt."""

    key: str = Field(description="Replay it with POST /api/v1/dead-letters/{key}/replay.")
    agent: str
    correlation_id: str
    input_ids: list[str]
    attempts: int
    error: str | None
    failed_at: str | None = Field(
        default=None, description="When it last failed (its latest WorkflowError the caller may see), ISO 8601."
    )


class DeadLetterList(_Body):
    """The dead letters whose inputs the caller may all see, oldest first."""

    items: list[DeadLetterView]


class ReplayResult(_Body):
    replayed: int = Field(description="How many dead letters were queued again.")


class Health(_Body):
    status: Literal["ok"]
    version: str
    agents: int = Field(description="How many agents the Flock declares.")


RESPONSE_MODELS: tuple[type[BaseModel], ...] = (
    AgentList,
    ApprovalList,
    ArtifactPage,
    ControlResponse,
    ConversationPage,
    DeadLetterList,
    DecisionResponse,
    Error,
    Health,
    ReplayResult,
    RunResponse,
    TurnResponse,
    TypeList,
    WorkflowStatus,
)
"""The response models that become components of the OpenAPI document (with the models they nest)."""
