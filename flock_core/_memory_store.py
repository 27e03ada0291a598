"""The in-memory blackboard store: the fastest backend, the default for scripts and tests."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import TypeVar
from uuid import UUID

from pydantic import BaseModel

from ._artifacts import Artifact, utcnow
from ._collectors import ExpiredJoin
from ._registry import type_name_of
from ._store import ArtifactPage, ArtifactQuery, matches
from ._work import Commit, TimerState, WorkRecord, WorkStatus
from .exceptions import StoreError

__all__ = ["InMemoryBlackboardStore"]

M = TypeVar("M", bound=BaseModel)


class InMemoryBlackboardStore:
    """Keeps artifacts and run state in process memory, indexed by id, type and correlation id.

    Nothing survives the process; use `SQLiteBlackboardStore` for that.

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
        self._work: dict[str, WorkRecord] = {}
        self._timers: dict[str, TimerState] = {}
        self._expired: list[ExpiredJoin] = []
        self._fingerprints: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self._order)

    def _add(self, artifact: Artifact) -> int:
        self._order.append(artifact)
        self._by_id[artifact.id] = artifact
        self._by_type.setdefault(artifact.type, []).append(artifact)
        self._by_correlation.setdefault(artifact.correlation_id, []).append(artifact)
        return len(self._order)

    async def append(self, artifact: Artifact) -> int:
        """Store `artifact`; an id that is already stored is rejected."""
        if artifact.id in self._by_id:
            raise StoreError(f"artifact {artifact.id} is already stored; artifacts are immutable")
        return self._add(artifact)

    async def commit(self, commit: Commit) -> bool:
        """Apply `commit` (checks first, then writes, so a failed check writes nothing)."""
        if commit.complete is not None:
            current = self._work.get(commit.complete)
            if current is None:
                raise StoreError(f"no work item {commit.complete!r} to complete")
            if current.status in ("done", "failed"):
                return False
        for artifact in commit.artifacts:
            if artifact.id in self._by_id:
                raise StoreError(f"artifact {artifact.id} is already stored; artifacts are immutable")
        for artifact in commit.artifacts:
            self._add(artifact)
        for record in commit.enqueue:
            if record.key not in self._work:
                self._work[record.key] = record
                for artifact_id in record.input_ids:
                    self._consumers.setdefault(artifact_id, set()).add(record.agent)
        for agent, artifact_id in commit.consumed:
            self._consumers.setdefault(artifact_id, set()).add(agent)
        if commit.complete is not None:
            done = dataclasses.replace(
                self._work[commit.complete], status=commit.outcome, last_error=commit.error, lease_owner=None
            )
            self._work[commit.complete] = done
        self._timers.update({t.agent: t for t in commit.timers})
        self._expired.extend(commit.expired_joins)
        return True

    async def get(self, artifact_id: UUID) -> Artifact | None:
        """The artifact with this id, or `None`."""
        return self._by_id.get(artifact_id)

    async def get_many(self, artifact_ids: Sequence[UUID]) -> list[Artifact]:
        """The artifacts with these ids, in order, skipping missing ones."""
        return [self._by_id[i] for i in artifact_ids if i in self._by_id]

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

    async def consumed_pairs(self) -> set[tuple[str, UUID]]:
        """Every consumption record."""
        return {(agent, artifact_id) for artifact_id, agents in self._consumers.items() for agent in agents}

    async def lease(self, key: str, owner: str, until: datetime) -> WorkRecord | None:
        """Lease a pending work item (or one whose lease has expired)."""
        record = self._work.get(key)
        if record is None or record.status in ("done", "failed"):
            return None
        held = record.status == "leased" and record.lease_until is not None and record.lease_until > utcnow()
        if held and record.lease_owner != owner:
            return None
        leased = dataclasses.replace(
            record, status="leased", attempts=record.attempts + 1, lease_owner=owner, lease_until=until
        )
        self._work[key] = leased
        return leased

    async def release(self, keys: Sequence[str]) -> None:
        """Return leased items to pending (their owner is gone)."""
        for key in keys:
            record = self._work.get(key)
            if record is not None and record.status == "leased":
                self._work[key] = dataclasses.replace(record, status="pending", lease_owner=None, lease_until=None)

    async def work(self, statuses: Collection[WorkStatus] | None = None) -> list[WorkRecord]:
        """Work items in insertion order, optionally filtered by status."""
        return [r for r in self._work.values() if statuses is None or r.status in statuses]

    async def requeue(self, key: str) -> bool:
        """Put a failed item back to pending."""
        record = self._work.get(key)
        if record is None or record.status != "failed":
            return False
        self._work[key] = dataclasses.replace(record, status="pending", attempts=0, lease_owner=None, lease_until=None)
        return True

    async def timer_states(self) -> list[TimerState]:
        """The last tick of every timer agent."""
        return list(self._timers.values())

    async def expired_joins(self) -> list[ExpiredJoin]:
        """Expired join records, oldest first."""
        return list(self._expired)

    async def fingerprints(self) -> dict[str, str]:
        """Saved agent fingerprints."""
        return dict(self._fingerprints)

    async def save_fingerprints(self, fingerprints: Mapping[str, str]) -> None:
        """Replace the saved agent fingerprints."""
        self._fingerprints = dict(fingerprints)

    async def close(self) -> None:
        """Nothing to release."""
