"""Flock's condition builders: `Until` says when a run stops, `When` when a subscription's activation may run.

Both build ordinary run conditions (combine them with `&`, `|`, `~`) and read the store the same way as
`ArtifactCount` and `Exists`; a `When` condition is judged in the activation's own workflow and counts
only the artifacts its agent may see.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from ..blackboard._registry import type_name_of
from ..blackboard._store import ArtifactQuery
from ..exceptions import ConfigurationError
from ._conditions import Condition, ConditionView, Idle, WorkflowFailed

__all__ = ["CountCondition", "FieldCondition", "Until", "When", "WorkflowConditions"]


def _workflow(view: ConditionView, fixed: str | None, in_workflow: bool) -> str | None:
    return view.correlation_id if in_workflow else fixed


def _count(n: int, what: str) -> int:
    if n < 0:
        raise ConfigurationError(f"{what} needs a count >= 0, got {n}")
    return n


@dataclass(frozen=True, slots=True)
class CountCondition(Condition):
    """True when the number of matching artifacts is within the bounds set by `at_least`/`at_most`/`exactly`.

    >>> from pydantic import BaseModel
    >>> class Story(BaseModel):
    ...     text: str
    >>> str(Until.artifact_count(Story).at_least(5))
    'count(Story) >= 5'
    """

    model: type[BaseModel]
    correlation_id: str | None = None
    tags: frozenset[str] | None = None
    produced_by: str | None = None
    minimum: int | None = None
    maximum: int | None = None
    exact: int | None = None
    in_workflow: bool = False

    def at_least(self, n: int) -> CountCondition:
        """At least `n` matching artifacts."""
        return dataclasses.replace(self, minimum=_count(n, "at_least"))

    def at_most(self, n: int) -> CountCondition:
        """At most `n` matching artifacts."""
        return dataclasses.replace(self, maximum=_count(n, "at_most"))

    def exactly(self, n: int) -> CountCondition:
        """Exactly `n` matching artifacts."""
        return dataclasses.replace(self, exact=_count(n, "exactly"))

    async def check(self, view: ConditionView) -> bool:
        """Count the matching artifacts in the store."""
        query = ArtifactQuery(
            types=frozenset({view.registry.name_of(self.model)}),
            correlation_id=_workflow(view, self.correlation_id, self.in_workflow),
            tags=self.tags,
            produced_by=None if self.produced_by is None else frozenset({self.produced_by}),
            visible_to=view.visible_to,
            limit=0,
        )
        total = (await view.store.query(query)).total
        return (
            (self.minimum is None or total >= self.minimum)
            and (self.maximum is None or total <= self.maximum)
            and (self.exact is None or total == self.exact)
        )

    def __str__(self) -> str:
        bounds = [f">= {self.minimum}"] if self.minimum is not None else []
        bounds += [f"<= {self.maximum}"] if self.maximum is not None else []
        bounds += [f"== {self.exact}"] if self.exact is not None else []
        return f"count({type_name_of(self.model)}) {' & '.join(bounds) or '>= 0'}"


@dataclass(frozen=True, slots=True)
class FieldCondition(Condition):
    """True when some matching artifact's payload `field` satisfies `predicate` (the JSON value, as Flock)."""

    model: type[BaseModel]
    field: str
    predicate: Callable[[Any], bool]
    correlation_id: str | None = None
    in_workflow: bool = False

    async def check(self, view: ConditionView) -> bool:
        """Look for a payload whose field satisfies the predicate."""
        query = ArtifactQuery(
            types=frozenset({view.registry.name_of(self.model)}),
            correlation_id=_workflow(view, self.correlation_id, self.in_workflow),
            visible_to=view.visible_to,
        )
        return any(self.predicate(a.payload.get(self.field)) for a in (await view.store.query(query)).items)

    def __str__(self) -> str:
        return f"any({type_name_of(self.model)}.{self.field})"


def _tags(tags: Iterable[str] | None) -> frozenset[str] | None:
    return None if tags is None else frozenset(tags)


class Until:
    """Builds conditions for `Flock.run_until` (Flock's names for `Idle`, `ArtifactCount`, `Exists`, ...).

    >>> from pydantic import BaseModel
    >>> class Hypothesis(BaseModel):
    ...     confidence: float
    >>> str(Until.artifact_count(Hypothesis).at_least(3) | Until.any_field(
    ...     Hypothesis, field="confidence", predicate=lambda v: v >= 0.9))
    '(count(Hypothesis) >= 3 | any(Hypothesis.confidence))'
    """

    @staticmethod
    def idle() -> Condition:
        """Nothing queued or running."""
        return Idle()

    @staticmethod
    def no_pending_work() -> Condition:
        """The same as `idle()`."""
        return Idle()

    @staticmethod
    def artifact_count(
        model: type[BaseModel],
        *,
        correlation_id: str | None = None,
        tags: Iterable[str] | None = None,
        produced_by: str | None = None,
    ) -> CountCondition:
        """Count artifacts of `model`; bound it with `.at_least(n)`, `.at_most(n)` or `.exactly(n)`."""
        return CountCondition(model, correlation_id, _tags(tags), produced_by)

    @staticmethod
    def exists(
        model: type[BaseModel], *, correlation_id: str | None = None, tags: Iterable[str] | None = None
    ) -> CountCondition:
        """At least one artifact of `model`."""
        return CountCondition(model, correlation_id, _tags(tags), minimum=1)

    @staticmethod
    def none(model: type[BaseModel], *, correlation_id: str | None = None) -> Condition:
        """No artifact of `model`."""
        return ~CountCondition(model, correlation_id, minimum=1)

    @staticmethod
    def any_field(
        model: type[BaseModel], *, field: str, predicate: Callable[[Any], bool], correlation_id: str | None = None
    ) -> FieldCondition:
        """Some artifact of `model` whose payload `field` satisfies `predicate`."""
        return FieldCondition(model, field, predicate, correlation_id)

    @staticmethod
    def workflow_error(correlation_id: str) -> Condition:
        """A `WorkflowError` was published in the workflow."""
        return WorkflowFailed(correlation_id)


@dataclass(frozen=True, slots=True)
class WorkflowConditions:
    """Conditions on artifacts of `model` in the activation's own workflow (from `When.correlation`)."""

    model: type[BaseModel]

    def exists(self) -> CountCondition:
        """At least one artifact of the type in the workflow."""
        return CountCondition(self.model, minimum=1, in_workflow=True)

    def count_at_least(self, n: int) -> CountCondition:
        """At least `n` artifacts of the type in the workflow."""
        return CountCondition(self.model, in_workflow=True).at_least(n)

    def count_at_most(self, n: int) -> CountCondition:
        """At most `n` artifacts of the type in the workflow."""
        return CountCondition(self.model, in_workflow=True).at_most(n)

    def count_exactly(self, n: int) -> CountCondition:
        """Exactly `n` artifacts of the type in the workflow."""
        return CountCondition(self.model, in_workflow=True).exactly(n)

    def any_field(self, *, field: str, predicate: Callable[[Any], bool]) -> FieldCondition:
        """Some artifact of the type in the workflow whose payload `field` satisfies `predicate`."""
        return FieldCondition(self.model, field, predicate, in_workflow=True)


class When:
    """Builds activation conditions for `consumes(..., activation=...)`.

    An activation whose condition does not hold yet waits (it is not dropped) and runs as soon as an
    artifact published in its workflow makes the condition true.
    """

    @staticmethod
    def correlation(model: type[BaseModel]) -> WorkflowConditions:
        """Conditions on artifacts of `model` in the activation's workflow."""
        return WorkflowConditions(model)
