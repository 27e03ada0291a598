"""One finished run of a workflow, as a metric sees it, and how it is read back from the board."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from pydantic import BaseModel

from flock_core import Artifact, ArtifactQuery, Flock, TypeRegistry, Usage, WorkflowError, type_name_of

__all__ = ["WorkflowRun", "collect_run"]

M = TypeVar("M", bound=BaseModel)
_ERROR_TYPE = type_name_of(WorkflowError)


@dataclass(frozen=True, slots=True)
class WorkflowRun:
    """Every artifact of one workflow run (one correlation id), with typed access for metrics.

    Attributes:
        correlation_id: the run's workflow.
        artifacts: its artifacts, oldest first (the published inputs included).
        usage: the model usage the run cost.
        registry: resolves type names to models.

    >>> from pydantic import BaseModel
    >>> from flock_core import Artifact, TypeRegistry
    >>> class Label(BaseModel):
    ...     name: str
    >>> registry = TypeRegistry()
    >>> _ = registry.register(Label)
    >>> labels = [Artifact(type="Label", payload={"name": n}, correlation_id="c", produced_by="a") for n in "xy"]
    >>> run = WorkflowRun("c", tuple(labels), Usage(), registry)
    >>> run.final(Label), len(run.get(Label))
    (Label(name='y'), 2)
    """

    correlation_id: str
    artifacts: tuple[Artifact, ...]
    usage: Usage
    registry: TypeRegistry

    def get(self, model: type[M]) -> list[M]:
        """Every payload of `model`'s type, oldest first."""
        name = self.registry.name_of(model)
        return [a.as_model(model) for a in self.artifacts if a.type == name]

    def final(self, model: type[M]) -> M | None:
        """The last payload of `model`'s type, or `None` when the run produced none."""
        found = self.get(model)
        return found[-1] if found else None

    @property
    def output(self) -> BaseModel | None:
        """The last artifact an agent produced (errors aside), as its model: the run's final output."""
        for artifact in reversed(self.artifacts):
            if artifact.produced_by != "external" and artifact.type != _ERROR_TYPE:
                return artifact.as_model(self.registry.resolve(artifact.type))
        return None

    @property
    def errors(self) -> list[WorkflowError]:
        """The failures recorded in the run."""
        return [a.as_model(WorkflowError) for a in self.artifacts if a.type == _ERROR_TYPE]


async def collect_run(flock: Flock, correlation_id: str) -> WorkflowRun:
    """The finished run `correlation_id` of `flock`: its artifacts and usage."""
    page = await flock.store.query(ArtifactQuery(correlation_id=correlation_id))
    status = await flock.get_correlation_status(correlation_id)
    return WorkflowRun(correlation_id, page.items, status.usage, flock.registry)
