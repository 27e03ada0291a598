"""Every exception the framework raises, split by whose fault it is.

```
FlockError
├── UserError                      a declaration or configuration mistake: fix the code
│   ├── TypeRegistrationError      a type is not a Pydantic model, not registered, or its name is taken
│   ├── AgentDeclarationError      a contradictory or incomplete agent declaration
│   │   └── DuplicateAgentError    two agents share a name in one Flock
│   ├── UnknownAgentError          an agent name that this Flock does not know
│   ├── ApprovalError              no pending approval request with that id that this approver may decide
│   ├── InputTypeError             an agent invoked on a type none of its subscriptions takes
│   ├── PayloadValidationError     a published payload does not validate against its registered type
│   ├── ConfigurationError         a setting is missing or invalid (for example no model configured)
│   ├── ManifestMismatchError      a workflow manifest describes other declarations than the Flock it is imported into
│   └── EventLoopError             a blocking method (`Flock.run`) was called inside a running event loop
└── RuntimeFlockError              something failed while a workflow ran
    ├── ContractViolation          an engine's result broke the declared output contract
    ├── EngineError                an engine raised or returned something unusable
    ├── EmbeddingError             an embedder failed (a semantic subscription then rejects the artifact)
    ├── StoreError                 the blackboard store failed
    │   └── BoardInUseError        another run holds this local board (a second process on a SQLite file)
    ├── CircuitBreakerTripped      an agent hit max_agent_iterations in one workflow
    ├── BudgetExceeded             a workflow's (or the Flock's) budget refused the next model call
    ├── ConversationClosedError    a turn was sent to a cancelled conversation
    ├── QueueFullError             `publish` found the board at `max_pending` (with `when_full="raise"`)
    ├── McpError                   an MCP server could not be reached, or one of its tools failed
    └── RunTimeoutError            `run_until_idle` / `run_until` hit its timeout
```

Errors carry the context needed to act on them (agent, output type, artifact id, field) as attributes,
and name it in their message.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._usage import Usage

__all__ = [
    "AgentDeclarationError",
    "ApprovalError",
    "BoardInUseError",
    "BudgetExceeded",
    "CircuitBreakerTripped",
    "ConfigurationError",
    "ContractViolation",
    "ConversationClosedError",
    "DuplicateAgentError",
    "EmbeddingError",
    "EngineError",
    "EventLoopError",
    "FlockError",
    "InputTypeError",
    "ManifestMismatchError",
    "McpError",
    "PayloadValidationError",
    "QueueFullError",
    "RunTimeoutError",
    "RuntimeFlockError",
    "StoreError",
    "TypeRegistrationError",
    "UnknownAgentError",
    "UserError",
]


class FlockError(Exception):
    """Base class of every error raised by `flock_core` and `engines`."""


class UserError(FlockError):
    """A mistake in how the framework is used: a declaration, a type, a setting."""


class TypeRegistrationError(UserError):
    """A payload type is not a Pydantic model, is not registered, or its name is already taken."""

    def __init__(self, message: str, *, type_name: str | None = None) -> None:
        super().__init__(message)
        self.type_name = type_name


class AgentDeclarationError(UserError):
    """An agent declaration is contradictory or incomplete.

    Attributes:
        agent: the agent's name.
        problem: what is wrong and how to fix it.
        argument: the builder argument concerned (`"fan_out"`, `"consumes"`, ...), when one is.
    """

    def __init__(self, agent: str, problem: str, *, argument: str | None = None) -> None:
        super().__init__(f"agent {agent!r}: {problem}")
        self.agent = agent
        self.problem = problem
        self.argument = argument


class DuplicateAgentError(AgentDeclarationError):
    """Two agents in one `Flock` have the same name."""

    def __init__(self, agent: str) -> None:
        super().__init__(agent, "an agent with this name is already declared in this Flock")


class UnknownAgentError(UserError):
    """An agent name that the `Flock` does not know."""

    def __init__(self, agent: str, known: Sequence[str]) -> None:
        super().__init__(f"unknown agent {agent!r}; declared agents: {sorted(known)}")
        self.agent = agent


class ApprovalError(UserError, LookupError):
    """No pending approval request with this id that the approver may decide.

    The same answer for an unknown id, a decided request, and one the approver may not see or decide,
    so that it reveals nothing about requests the approver has no business with.
    """

    def __init__(self, approval_id: str, approver: str) -> None:
        super().__init__(f"no pending approval request {approval_id!r} that {approver!r} may decide")
        self.approval_id = approval_id
        self.approver = approver


class InputTypeError(UserError, TypeError):
    """An agent was invoked directly on a type that none of its subscriptions takes."""

    def __init__(self, agent: str, type_name: str, accepted: Iterable[str]) -> None:
        self.agent = agent
        self.type_name = type_name
        self.accepted = tuple(sorted(accepted))
        super().__init__(f"agent {agent!r} does not consume {type_name!r}; it consumes {list(self.accepted)}")


class PayloadValidationError(UserError, ValueError):
    """A payload published to the blackboard does not validate against its registered type.

    Attributes:
        type_name: the registered type.
        errors: one line per invalid field, `field.path: message`.
    """

    def __init__(self, type_name: str, errors: Sequence[str]) -> None:
        detail = "".join(f"\n  - {e}" for e in errors)
        super().__init__(f"invalid {type_name!r} payload:{detail}")
        self.type_name = type_name
        self.errors = tuple(errors)


class ConfigurationError(UserError):
    """A required setting is missing or invalid.

    Attributes:
        setting: the setting concerned (`"max_concurrency"`, `"engine"`, ...), when one is.
    """

    def __init__(self, message: str, *, setting: str | None = None) -> None:
        super().__init__(message)
        self.setting = setting


class ManifestMismatchError(UserError):
    """A workflow manifest does not describe the declarations of the Flock it is imported into.

    Attributes:
        agent: the agent whose declaration differs.
        field: what differs (`"agent"`, `"description"`, `"consumes"`, `"publishes[0].types"`, `"schema of X"`...).
        manifest: the manifest's value, as text (`None`: the manifest has no such agent).
        declared: the Flock's value, as text (`None`: the Flock declares no such agent).
    """

    def __init__(self, agent: str, field: str, *, manifest: str | None, declared: str | None) -> None:
        super().__init__(
            f"agent {agent!r}: the manifest's {field} does not match the declaration "
            f"(manifest: {manifest if manifest is not None else 'absent'}; "
            f"declared: {declared if declared is not None else 'absent'})"
        )
        self.agent = agent
        self.field = field
        self.manifest = manifest
        self.declared = declared


class EventLoopError(UserError, RuntimeError):
    """A blocking method was called from inside a running event loop; await its async twin instead."""

    def __init__(self, method: str, async_method: str) -> None:
        super().__init__(
            f"Flock.{method}() blocks, so it cannot run inside a running event loop (Jupyter, an async "
            f"function, a server): use `await flock.{async_method}(...)` there"
        )
        self.method = method
        self.async_method = async_method


class RuntimeFlockError(FlockError):
    """Something failed while a workflow was running."""


class ContractViolation(RuntimeFlockError):
    """An engine's result does not match the agent's declared output contract.

    Attributes:
        agent: the agent whose engine produced the result.
        output_type: the declared output type concerned, when one is.
        expected: what the contract asked for.
        got: what the engine returned.
        errors: individual problems (for example Pydantic's error messages), fed back on a repair attempt.
        usage: model usage the failed attempt cost, when an engine raises this itself (counted by the core).
    """

    def __init__(
        self,
        agent: str,
        *,
        expected: str,
        got: str,
        output_type: str | None = None,
        errors: Sequence[str] = (),
        usage: Usage | None = None,
    ) -> None:
        where = f" output {output_type!r}" if output_type else ""
        detail = "".join(f"\n  - {e}" for e in errors)
        super().__init__(f"agent {agent!r}{where}: expected {expected}, got {got}{detail}")
        self.agent = agent
        self.output_type = output_type
        self.expected = expected
        self.got = got
        self.errors = tuple(errors)
        self.usage = usage


class EngineError(RuntimeFlockError):
    """An engine failed to produce a result for an agent."""

    def __init__(self, agent: str, message: str, *, usage: Usage | None = None) -> None:
        super().__init__(f"agent {agent!r}: {message}")
        self.agent = agent
        self.usage = usage


class EmbeddingError(RuntimeFlockError):
    """An embedder failed or returned unusable vectors; the semantic match it was for is rejected."""


class StoreError(RuntimeFlockError):
    """The blackboard store failed to read or write."""


class BoardInUseError(StoreError):
    """Another run holds this local board: a local board (in memory, SQLite) runs one `Flock` at a time."""

    def __init__(self, board: str, holder: str) -> None:
        super().__init__(
            f"{board} is in use by another Flock ({holder}); a local board runs one Flock at a time: "
            "stop the other one (or close its store: `await flock.shutdown()`, `async with flock`), "
            "or use PostgresBlackboardStore to run one board from several processes (docs/distributed.md)"
        )
        self.board = board
        self.holder = holder


class CircuitBreakerTripped(RuntimeFlockError):
    """An agent reached `max_agent_iterations` activations in one workflow and was stopped for it."""

    def __init__(self, agent: str, limit: int) -> None:
        super().__init__(
            f"circuit breaker: agent {agent!r} reached max_agent_iterations={limit} in this workflow "
            "and was stopped for it (check for a feedback loop; if the workflow needs more, raise the limit with "
            "Flock(max_agent_iterations=...), and bound its spending with a Budget)"
        )
        self.agent = agent
        self.limit = limit


class BudgetExceeded(RuntimeFlockError):
    """A budget refused a model call: the call was not made, and the workflow stops.

    Attributes:
        agent: the agent that was about to call a model.
        correlation_id: the workflow.
        scope: `"workflow"` (the workflow's own budget) or `"flock"` (the Flock's budget).
        limit: the limit that refused the call (`"max_calls"`, `"max_cost"`, ...).
        allowed: the limit's value.
        spent: what was spent on that limit.
    """

    def __init__(
        self, agent: str, correlation_id: str, *, scope: str, limit: str, allowed: float, spent: float
    ) -> None:
        owner = "the workflow's budget" if scope == "workflow" else "the Flock's budget"
        # Calls in flight hold their reservation: `max_calls` is reached before they are spent.
        in_flight = f" and {allowed - spent:g} in flight" if limit == "max_calls" and spent < allowed else ""
        super().__init__(
            f"agent {agent!r}: {owner} is spent ({limit}={allowed:g} reached, spent {spent:g}{in_flight}); "
            f"no further model call was made and workflow {correlation_id!r} was stopped"
        )
        self.agent = agent
        self.correlation_id = correlation_id
        self.scope = scope
        self.limit = limit
        self.allowed = allowed
        self.spent = spent


class ConversationClosedError(RuntimeFlockError):
    """A turn was sent to a conversation that was cancelled (`Flock.cancel`); start a new conversation.

    Attributes:
        conversation_id: the conversation.
        reason: the reason it was cancelled with.
    """

    def __init__(self, conversation_id: str, reason: str) -> None:
        super().__init__(f"conversation {conversation_id!r} was cancelled ({reason}); start a new one")
        self.conversation_id = conversation_id
        self.reason = reason


class QueueFullError(RuntimeFlockError):
    """`publish` found `max_pending` activations and held inputs waiting, and could not (or must not) wait.

    Attributes:
        limit: the Flock's `max_pending`.
        pending: the activations queued or running, retries waiting and inputs held in gates, joins and
            batches when the publish was refused.
    """

    def __init__(self, limit: int, pending: int, reason: str) -> None:
        super().__init__(
            f"publish refused: {pending} activations and held inputs are waiting (max_pending={limit}); {reason}"
        )
        self.limit = limit
        self.pending = pending


class McpError(RuntimeFlockError):
    """An MCP server could not be reached, or one of its tools failed.

    Attributes:
        server: the server's name.
        tool: the tool concerned, when one is.
    """

    def __init__(self, server: str, message: str, *, tool: str | None = None) -> None:
        where = f"MCP server {server!r}" + (f" tool {tool!r}" if tool else "")
        super().__init__(f"{where}: {message}")
        self.server = server
        self.tool = tool


class RunTimeoutError(RuntimeFlockError, TimeoutError):
    """A run did not reach its stop condition within the timeout."""
