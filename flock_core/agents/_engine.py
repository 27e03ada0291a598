"""The engine protocol: the one thing that turns an agent's inputs into outputs."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable
from uuid import UUID

from pydantic import BaseModel

from .._records import plain_init
from .._usage import NO_USAGE, Usage
from ..blackboard._artifacts import Artifact
from ..blackboard._work import Tick
from ..exceptions import ContractViolation, EngineError
from ._spec import AgentSpec, OutputGroup

if TYPE_CHECKING:
    from ._learned import LearnedState
    from ._spending import CallGate

__all__ = [
    "Engine",
    "EvaluationRequest",
    "EvaluationResult",
    "Usage",
    "checked_result",
    "engine_problem",
    "evaluate_checked",
    "evaluation",
]


@plain_init
@dataclass(frozen=True, slots=True)
class EvaluationRequest:
    """Everything an engine needs for one output group of one activation.

    Attributes:
        agent: the frozen agent declaration.
        group: the output group to produce (`agent.output_groups[group_index]`).
        group_index: position of `group` in the agent's output groups.
        inputs: the artifacts that activated the agent, in arrival order.
        payloads: the same inputs as validated Pydantic models.
        context: other artifacts the agent may see (correlation-scoped by default).
        attempt: 0 for the first try, then 1, 2, ... for repair attempts.
        previous_outputs: on a repair attempt, what the engine returned last time.
        previous_error: on a repair attempt, the contract violation to fix.
        model: the model chosen for the Flock (engines may override it).
        tick: for a scheduled activation, which timer tick fired it.
        batched: whether `inputs` is a whole batch (`BatchSpec`): engines present it as one plural input.
        learned: demonstrations and instructions learned for this agent and output group, if any.
        on_token: where an engine that can stream sends each chunk of model output as it arrives, or
            `None` when nobody listens (then it should not stream). Streamed text is for display only:
            the outputs the engine returns are what the contract checks and what is published.
        gate: the budgets of this call (see `docs/control.md`): an engine that calls models itself calls
            `gate.before_call(model)` before each model call (it raises `BudgetExceeded` when a budget is
            spent) and `gate.after_call(usage)` after it. Engines that do not are charged what they report.
    """

    agent: AgentSpec
    group: OutputGroup
    group_index: int
    inputs: tuple[Artifact, ...]
    payloads: tuple[BaseModel, ...]
    context: tuple[Artifact, ...] = ()
    attempt: int = 0
    previous_outputs: tuple[BaseModel, ...] = ()
    previous_error: ContractViolation | None = None
    model: str | None = None
    tick: Tick | None = None
    batched: bool = False
    learned: LearnedState | None = None
    on_token: Callable[[str], None] | None = None
    gate: CallGate | None = None


@plain_init
@dataclass(frozen=True, slots=True)
class EvaluationResult:
    """What an engine returns: output models (checked by the contract) and the model usage it cost.

    An engine that ran a workflow of its own (`WorkflowEngine`) also returns that run's artifacts as
    `trail`: they are stored with the outputs (for lineage and audit, tagged `flock:nested`, never routed),
    and every output's lineage includes the `derived_from` ids among them.
    """

    outputs: Sequence[BaseModel] = ()
    usage: Usage = NO_USAGE
    trail: tuple[Artifact, ...] = ()
    derived_from: tuple[UUID, ...] = ()


@runtime_checkable
class Engine(Protocol):
    """Produces the outputs of one output group. Deterministic and LLM engines implement the same method."""

    async def evaluate(self, request: EvaluationRequest) -> EvaluationResult:
        """Return the outputs for `request.group`; the core checks them against the contract."""
        ...


def engine_problem(engine: object) -> str | None:
    """What keeps `engine` from being used as an engine, with the fix; `None` when it is one.

    >>> engine_problem("offline")
    "got the string 'offline'; pass an engine object (to use the offline model write Flock(model='offline'))"
    """
    if isinstance(engine, str):
        hint = (
            f"to use the offline model write Flock(model={engine!r})"
            if engine == "offline"
            else "a model id goes in model="
        )
        return f"got the string {engine!r}; pass an engine object ({hint})"
    if isinstance(engine, type):
        return f"got the class {engine.__name__}; pass an instance: {engine.__name__}(...)"
    if not isinstance(engine, Engine):
        if callable(engine):
            return (
                f"got the function {getattr(engine, '__name__', repr(engine))!r}; an engine is an object with "
                "`async def evaluate(self, request) -> EvaluationResult`; wrap a function as FunctionEngine(fn) "
                "(flock_core.testing)"
            )
        return (
            f"{type(engine).__name__} is not an engine: it needs a method "
            "`async def evaluate(self, request: EvaluationRequest) -> EvaluationResult`"
        )
    if not inspect.iscoroutinefunction(engine.evaluate):
        return (
            f"{type(engine).__name__}.evaluate is not a coroutine function: declare it "
            "`async def evaluate(self, request) -> EvaluationResult`"
        )
    return None


async def evaluate_checked(agent: str, engine: Engine, request: EvaluationRequest) -> EvaluationResult:
    """Call `engine` and make sure it kept the protocol: an awaitable that gave an `EvaluationResult`.

    Raises:
        EngineError: naming the agent, the engine and what it returned instead.
    """
    return checked_result(agent, engine, await evaluation(agent, engine, request))


def evaluation(agent: str, engine: Engine, request: EvaluationRequest) -> Awaitable[object]:
    """`engine.evaluate(request)`, checked to be awaitable (`evaluate_checked`, for callers that await it inline).

    Raises:
        EngineError: naming the agent, the engine and what it returned instead.
    """
    pending = engine.evaluate(request)
    if not inspect.isawaitable(pending):
        raise EngineError(
            agent,
            f"{type(engine).__name__}.evaluate returned {type(pending).__name__}, not an awaitable: "
            "declare it `async def`",
        )
    return pending


def checked_result(agent: str, engine: Engine, result: object) -> EvaluationResult:
    """`result`, what awaiting `evaluation` gave, checked to be an `EvaluationResult` with a list of outputs.

    Raises:
        EngineError: naming the agent, the engine and what it returned instead.
    """
    if not isinstance(result, EvaluationResult):
        raise EngineError(
            agent,
            f"{type(engine).__name__}.evaluate returned {type(result).__name__}, not an EvaluationResult: "
            "return EvaluationResult(outputs=[...], usage=...)",
        )
    outputs: object = result.outputs
    if type(outputs) is not list and (isinstance(outputs, BaseModel | str) or not isinstance(outputs, Sequence)):
        raise EngineError(
            agent,
            f"{type(engine).__name__}.evaluate returned EvaluationResult(outputs={type(outputs).__name__}); "
            "outputs must be a list of models: EvaluationResult(outputs=[Model(...)])",
        )
    return result
