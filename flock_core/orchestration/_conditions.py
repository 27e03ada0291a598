"""A small, composable language of stop conditions for `Flock.run_until`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from ..blackboard._artifacts import WorkflowError
from ..blackboard._registry import TypeRegistry, type_name_of
from ..blackboard._store import ArtifactQuery, BlackboardStore
from ..blackboard._visibility import AgentIdentity

__all__ = ["ArtifactCount", "Condition", "ConditionView", "Exists", "Idle", "WorkflowFailed"]


@dataclass(frozen=True, slots=True)
class ConditionView:
    """What a condition may look at: the store and whether the run is idle.

    For an activation condition (`consumes(activation=...)`), `correlation_id` is the activation's
    workflow and `visible_to` its agent: the condition counts only what that agent may see.
    """

    store: BlackboardStore
    idle: bool
    registry: TypeRegistry
    correlation_id: str | None = None
    visible_to: AgentIdentity | None = None


class Condition:
    """Base of conditions; combine them with `&`, `|` and `~`.

    >>> from pydantic import BaseModel
    >>> class Report(BaseModel):
    ...     ok: bool
    >>> str(ArtifactCount(Report, at_least=3) | ~Exists(Report, where=lambda r: r.ok))
    '(count(Report) >= 3 | ~exists(Report, where))'
    """

    async def check(self, view: ConditionView) -> bool:
        """Whether the condition holds now."""
        raise NotImplementedError

    def workflows(self) -> frozenset[str]:
        """The correlation ids this condition is about (`run_until` cancels the rest of these).

        >>> from pydantic import BaseModel
        >>> class Report(BaseModel):
        ...     ok: bool
        >>> sorted((ArtifactCount(Report, 1, "a") | ~Exists(Report, correlation_id="b")).workflows())
        ['a', 'b']
        """
        correlation_id: object = getattr(self, "correlation_id", None)
        return frozenset({correlation_id}) if isinstance(correlation_id, str) else frozenset()

    def __and__(self, other: Condition) -> Condition:
        return _All(self, other)

    def __or__(self, other: Condition) -> Condition:
        return _Any(self, other)

    def __invert__(self) -> Condition:
        return _Not(self)


@dataclass(frozen=True, slots=True)
class _All(Condition):
    left: Condition
    right: Condition

    async def check(self, view: ConditionView) -> bool:
        return await self.left.check(view) and await self.right.check(view)

    def workflows(self) -> frozenset[str]:
        return self.left.workflows() | self.right.workflows()

    def __str__(self) -> str:
        return f"({self.left} & {self.right})"


@dataclass(frozen=True, slots=True)
class _Any(Condition):
    left: Condition
    right: Condition

    async def check(self, view: ConditionView) -> bool:
        return await self.left.check(view) or await self.right.check(view)

    def workflows(self) -> frozenset[str]:
        return self.left.workflows() | self.right.workflows()

    def __str__(self) -> str:
        return f"({self.left} | {self.right})"


@dataclass(frozen=True, slots=True)
class _Not(Condition):
    inner: Condition

    async def check(self, view: ConditionView) -> bool:
        return not await self.inner.check(view)

    def workflows(self) -> frozenset[str]:
        return self.inner.workflows()

    def __str__(self) -> str:
        return f"~{self.inner}"


@dataclass(frozen=True, slots=True)
class Idle(Condition):
    """True when nothing is queued or running."""

    async def check(self, view: ConditionView) -> bool:
        """Whether the run is idle."""
        return view.idle

    def __str__(self) -> str:
        return "idle"


@dataclass(frozen=True, slots=True)
class ArtifactCount(Condition):
    """True when at least `at_least` artifacts of `model` exist (optionally in one workflow)."""

    model: type[BaseModel]
    at_least: int = 1
    correlation_id: str | None = None

    async def check(self, view: ConditionView) -> bool:
        """Count matching artifacts in the store."""
        name = view.registry.name_of(self.model)
        query = ArtifactQuery(types=frozenset({name}), correlation_id=self.correlation_id, limit=0)
        return (await view.store.query(query)).total >= self.at_least

    def __str__(self) -> str:
        return f"count({type_name_of(self.model)}) >= {self.at_least}"


@dataclass(frozen=True, slots=True)
class Exists(Condition):
    """True when an artifact of `model` exists whose payload satisfies `where` (if given)."""

    model: type[BaseModel]
    where: Callable[[Any], bool] | None = None
    correlation_id: str | None = None

    async def check(self, view: ConditionView) -> bool:
        """Look for a matching payload."""
        if self.where is None:
            return await ArtifactCount(self.model, 1, self.correlation_id).check(view)
        payloads = await view.store.get_by_type(
            self.model, correlation_id=self.correlation_id, type_name=view.registry.name_of(self.model)
        )
        return any(self.where(p) for p in payloads)

    def __str__(self) -> str:
        return f"exists({type_name_of(self.model)}{', where' if self.where else ''})"


@dataclass(frozen=True, slots=True)
class WorkflowFailed(Condition):
    """True when a `WorkflowError` was published (optionally in one workflow, or by one agent)."""

    correlation_id: str | None = None
    agent: str | None = None

    async def check(self, view: ConditionView) -> bool:
        """Look for a matching `WorkflowError`."""
        agent = self.agent
        return await Exists(
            WorkflowError, None if agent is None else (lambda e: e.agent == agent), self.correlation_id
        ).check(view)

    def __str__(self) -> str:
        return "workflow_failed"
