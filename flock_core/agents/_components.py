"""Agent components: hooks around an activation, run in priority order."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from pydantic import BaseModel

from ..blackboard._artifacts import Artifact

if TYPE_CHECKING:
    from ._spec import AgentSpec

__all__ = ["AgentComponent"]


class AgentComponent:
    """Base class for activation hooks. Every hook is an identity by default; override the ones you need.

    Components run in ascending `priority` order. A hook that raises fails the activation, which is then
    recorded as a `WorkflowError` artifact (and `on_error` runs).

    >>> class Upper(AgentComponent):
    ...     async def on_post_evaluate(self, agent, outputs):
    ...         return outputs
    >>> Upper().priority
    0
    """

    priority: int = 0

    async def on_initialize(self, agent: AgentSpec) -> None:
        """Called once before the agent's first activation in a run."""

    async def on_pre_consume(self, agent: AgentSpec, inputs: Sequence[Artifact]) -> Sequence[Artifact]:
        """May filter or reorder the input artifacts before anything else happens."""
        return inputs

    async def on_pre_evaluate(self, agent: AgentSpec, payloads: Sequence[BaseModel]) -> Sequence[BaseModel]:
        """May transform the input payloads handed to the engine."""
        return payloads

    async def on_post_evaluate(self, agent: AgentSpec, outputs: Sequence[BaseModel]) -> Sequence[BaseModel]:
        """May transform the outputs before the contract checks them."""
        return outputs

    async def on_post_publish(self, agent: AgentSpec, artifacts: Sequence[Artifact]) -> None:
        """Called with the artifacts the activation published."""

    async def on_error(self, agent: AgentSpec, error: BaseException) -> None:
        """Called when the activation fails, before the `WorkflowError` artifact is published."""

    async def on_terminate(self, agent: AgentSpec) -> None:
        """Called when the `Flock` shuts down."""
