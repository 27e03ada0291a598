"""Frozen agent specifications: what the builder produces and the runtime reads."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel

from ..blackboard._visibility import AgentIdentity, Visibility
from ..exceptions import InputTypeError
from ._approval import ApprovalPolicy
from ._patterns import BatchSpec, JoinSpec, ScheduleSpec
from ._retry import DEFAULT_RETRY, RetryPolicy
from ._semantic import Semantic

if TYPE_CHECKING:
    from ._components import AgentComponent
    from ._context import ContextProvider
    from ._engine import Engine

__all__ = ["ActivationCondition", "AgentSpec", "BestOf", "FanOut", "OutputGroup", "Subscription"]

Predicate = Callable[[Any], bool]
VisibilityRule = Visibility | Callable[[Any], Visibility]


class ActivationCondition(Protocol):
    """A run condition (`When.correlation(...)...`) that must hold before a subscription's activation runs."""

    async def check(self, view: Any, /) -> bool:
        """Whether the condition holds, judged in the activation's workflow and with its agent's visibility."""
        ...


@dataclass(frozen=True, slots=True)
class FanOut:
    """How many artifacts of each type an output group must produce: exactly `low`, or `low..high`.

    >>> FanOut(3).describe(), FanOut(2, 5).describe()
    ('exactly 3', 'between 2 and 5')
    """

    low: int = 1
    high: int | None = None

    @property
    def maximum(self) -> int:
        """The largest accepted count."""
        return self.low if self.high is None else self.high

    @property
    def exact(self) -> bool:
        """Whether exactly one count is accepted."""
        return self.high is None or self.high == self.low

    def accepts(self, count: int) -> bool:
        """Whether `count` artifacts satisfy the declaration."""
        return self.low <= count <= self.maximum

    def describe(self) -> str:
        """Human wording, used in error messages and prompts."""
        return f"exactly {self.low}" if self.exact else f"between {self.low} and {self.maximum}"


@dataclass(frozen=True, slots=True)
class Subscription:
    """One `.consumes(...)` call: the input types (repeats form a count gate) and their filters."""

    types: tuple[str, ...]
    models: tuple[type[BaseModel], ...]
    where: tuple[Predicate, ...] = ()
    from_agents: frozenset[str] | None = None
    tags: frozenset[str] | None = None
    priority: int = 0
    join: JoinSpec | None = None
    batch: BatchSpec | None = None
    semantic: tuple[Semantic, ...] = ()
    activation: ActivationCondition | None = None

    @property
    def required(self) -> Mapping[str, int]:
        """How many artifacts of each type complete one activation."""
        counts: dict[str, int] = {}
        for name in self.types:
            counts[name] = counts.get(name, 0) + 1
        return counts

    @property
    def is_gate(self) -> bool:
        """Whether the subscription collects more than one artifact per activation (gate, join or batch)."""
        return len(self.types) > 1 or self.join is not None or self.batch is not None


@dataclass(frozen=True, slots=True)
class OutputGroup:
    """One `.publishes(...)` call: the types produced together by one engine call, and their rules."""

    types: tuple[str, ...]
    models: tuple[type[BaseModel], ...]
    fan_out: FanOut = field(default_factory=FanOut)
    visibility: VisibilityRule | None = None
    where: tuple[Predicate, ...] = ()
    validate: tuple[tuple[Predicate, str], ...] = ()
    description: str | None = None
    declassify: str | None = None
    approval: ApprovalPolicy | None = None


@dataclass(frozen=True, slots=True)
class BestOf:
    """Run `n` candidates per output group and keep the valid one with the highest `score`."""

    n: int
    score: Callable[[list[Any]], float]


@dataclass(frozen=True, slots=True)
class AgentSpec:
    """The frozen declaration of one agent. Runtime code reads only this, never the builder."""

    name: str
    description: str | None = None
    subscriptions: tuple[Subscription, ...] = ()
    output_groups: tuple[OutputGroup, ...] = ()
    engine: Engine | None = None
    components: tuple[AgentComponent, ...] = ()
    tools: tuple[Callable[..., Any], ...] = ()
    labels: frozenset[str] = frozenset()
    tenant: str | None = None
    max_concurrency: int | None = None  # None: only the Flock's own limit applies
    prevent_self_trigger: bool = True
    best_of: BestOf | None = None
    max_repairs: int = 1
    schedule: ScheduleSpec | None = None
    context: ContextProvider | None = None
    mcp_servers: tuple[tuple[str, frozenset[str] | None], ...] = ()
    approval: ApprovalPolicy | None = None  # every output group's, unless the group declares its own
    retry: RetryPolicy = DEFAULT_RETRY
    identity: AgentIdentity = field(init=False, repr=False, compare=False)
    """The identity used for visibility checks (derived from the name, labels and tenant)."""
    group_approval: bool = field(init=False, repr=False, compare=False)
    """Whether an output group declares an approval of its own (derived; each activation asks)."""

    def __post_init__(self) -> None:
        # built once: every visibility check of the agent's reads (routing, context) asks for it
        object.__setattr__(self, "identity", AgentIdentity(self.name, self.labels, self.tenant))
        object.__setattr__(self, "group_approval", any(g.approval is not None for g in self.output_groups))

    @property
    def consumed_types(self) -> frozenset[str]:
        """Every type name that can activate this agent."""
        return frozenset(t for s in self.subscriptions for t in s.types)

    def check_consumes(self, type_name: str) -> None:
        """Raise `InputTypeError` unless one of the agent's subscriptions takes `type_name`."""
        if type_name not in self.consumed_types:
            raise InputTypeError(self.name, type_name, self.consumed_types)
