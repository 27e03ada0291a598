"""The in-memory blackboard store: the fastest backend, the default for scripts and tests."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar
from uuid import UUID

from pydantic import BaseModel

from ._artifacts import Artifact, utcnow
from ._registry import type_name_of
from ._store import ArtifactPage, ArtifactQuery, matches
from .exceptions import StoreError

__all__ = ["InMemoryBlackboardStore"]

M = TypeVar("M", bound=BaseModel)


class InMemoryBlackboardStore:
    """Keeps artifacts in process memory, indexed by id, type and correlation id.

    >>> import anyio
    >>> from flock_core import Artifact
    >>> store = InMemoryBlackboardStore()
    >>> anyio.run(store.append, Artifact(type="Note", payload={}, correlation_id="c1"))
    1
    """

    def __init__(self) -> None:
        self._order: list[Artifact] = []
        self._by_id: dict[UUID, Artifact] = {}
        self._by_type: dict[str, list[Artifact]] = {}
        self._by_correlation: dict[str, list[Artifact]] = {}
        self._consumers: dict[UUID, set[str]] = {}

    def __len__(self) -> int:
        return len(self._order)

    async def append(self, artifact: Artifact) -> int:
        """Store `artifact`; an id that is already stored is rejected."""
        if artifact.id in self._by_id:
            raise StoreError(f"artifact {artifact.id} is already stored; artifacts are immutable")
        self._order.append(artifact)
        self._by_id[artifact.id] = artifact
        self._by_type.setdefault(artifact.type, []).append(artifact)
        self._by_correlation.setdefault(artifact.correlation_id, []).append(artifact)
        return len(self._order)

    async def get(self, artifact_id: UUID) -> Artifact | None:
        """The artifact with this id, or `None`."""
        return self._by_id.get(artifact_id)

    def _candidates(self, query: ArtifactQuery) -> list[Artifact]:
        if query.correlation_id is not None:
            return self._by_correlation.get(query.correlation_id, [])
        if query.types is not None and len(query.types) == 1:
            (name,) = query.types
            return self._by_type.get(name, [])
        return self._order

    async def query(self, query: ArtifactQuery) -> ArtifactPage:
        """Artifacts matching `query`, oldest first."""
        now = query.now or utcnow()
        found = [a for a in self._candidates(query) if matches(a, query, now)]
        end = None if query.limit is None else query.offset + query.limit
        return ArtifactPage(items=tuple(found[query.offset : end]), total=len(found), offset=query.offset)

    async def get_by_type(
        self, model: type[M], *, correlation_id: str | None = None, type_name: str | None = None
    ) -> list[M]:
        """Payloads of `model`'s type (optionally in one workflow) as `model` instances.

        The type name defaults to the model's `@flock_type` name or class name; pass `type_name` for a
        model registered under another name (or use `Flock.get_by_type`, which knows the registry).
        """
        name = type_name or type_name_of(model)
        return [
            model.model_validate(a.payload)
            for a in self._by_type.get(name, [])
            if correlation_id is None or a.correlation_id == correlation_id
        ]

    async def record_consumption(self, agent: str, artifact_ids: Sequence[UUID]) -> None:
        """Remember that `agent` consumed these artifacts."""
        for artifact_id in artifact_ids:
            self._consumers.setdefault(artifact_id, set()).add(agent)

    async def consumers_of(self, artifact_id: UUID) -> frozenset[str]:
        """The agents that consumed this artifact."""
        return frozenset(self._consumers.get(artifact_id, ()))

    async def close(self) -> None:
        """Nothing to release."""
