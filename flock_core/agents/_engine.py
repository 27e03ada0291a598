"""The engine protocol: the one thing that turns an agent's inputs into outputs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from pydantic import BaseModel

from .._usage import Usage
from ..blackboard._artifacts import Artifact
from ..blackboard._work import Tick
from ..exceptions import ContractViolation
from ._spec import AgentSpec, OutputGroup

if TYPE_CHECKING:
    from ._learned import LearnedState

__all__ = ["Engine", "EvaluationRequest", "EvaluationResult", "Usage"]


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


@dataclass(frozen=True, slots=True)
class EvaluationResult:
    """What an engine returns: output models (checked by the contract) and the model usage it cost."""

    outputs: Sequence[BaseModel] = ()
    usage: Usage = field(default_factory=Usage)


@runtime_checkable
class Engine(Protocol):
    """Produces the outputs of one output group. Deterministic and LLM engines implement the same method."""

    async def evaluate(self, request: EvaluationRequest) -> EvaluationResult:
        """Return the outputs for `request.group`; the core checks them against the contract."""
        ...
