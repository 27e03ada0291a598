"""`builder.agent`: Flock's view of the agent being declared, whose settings can be assigned."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._context import ContextProvider
from ._spec import AgentSpec

if TYPE_CHECKING:
    from ._builder import AgentBuilder

__all__ = ["AgentHandle"]


class AgentHandle:
    """The agent behind an `AgentBuilder`, as Flock's `builder.agent`; assigning a setting declares it.

    `builder.agent.context_provider = provider` is `builder.with_context(provider)`; the declaration
    stays a frozen `AgentSpec` (`.spec`), replaced on every change.
    """

    __slots__ = ("_builder",)

    def __init__(self, builder: AgentBuilder) -> None:
        self._builder = builder

    @property
    def name(self) -> str:
        """The agent's name."""
        return self._builder.name

    @property
    def spec(self) -> AgentSpec:
        """The frozen declaration as it stands now."""
        return self._builder.spec

    @property
    def description(self) -> str | None:
        """What the agent does."""
        return self._builder.spec.description

    @property
    def context_provider(self) -> ContextProvider | None:
        """The agent's own context provider (`None`: the Flock's)."""
        return self._builder.spec.context

    @context_provider.setter
    def context_provider(self, provider: ContextProvider) -> None:
        self._builder.with_context(provider)
