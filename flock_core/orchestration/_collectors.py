"""Collectors: when the inputs of one activation are complete (gates, joins) and how groups are batched."""

from __future__ import annotations

from collections.abc import Collection, Hashable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID

from ..agents._patterns import BatchSpec, JoinSpec
from ..agents._spec import Subscription
from ..blackboard._artifacts import Artifact
from ..blackboard._work import ExpiredJoin

__all__ = ["BatchCollector", "GroupCollector", "PendingBatch"]

Group = tuple[Artifact, ...]


@dataclass(slots=True)
class _Open:
    waiting: dict[str, list[Artifact]]
    opened_at: datetime
    arrivals_after: int = 0

    def artifacts(self) -> Iterator[Artifact]:
        for items in self.waiting.values():
            yield from items


@dataclass(slots=True)
class GroupCollector:
    """Completes groups for one subscription: AND/count gates per correlation id, or joins per key."""

    agent: str
    position: int
    subscription: Subscription
    open: dict[Hashable, _Open] = field(default_factory=dict[Hashable, _Open])

    def add(self, artifact: Artifact, key: Hashable, now: datetime) -> tuple[Group | None, list[ExpiredJoin]]:
        """Add `artifact` under `key`; return a completed group (if any) and joins expired by a count window."""
        expired = self._count_window(key, now)
        group = self.open.setdefault(key, _Open({}, now))
        group.waiting.setdefault(artifact.type, []).append(artifact)
        required = self.subscription.required
        if any(len(group.waiting.get(t, ())) < n for t, n in required.items()):
            return None, expired
        taken: list[Artifact] = []
        for type_name, count in required.items():
            taken.extend(group.waiting[type_name][:count])
            group.waiting[type_name] = group.waiting[type_name][count:]
        if not any(group.waiting.values()):
            del self.open[key]
        return tuple(sorted(taken, key=lambda a: a.id)), expired

    def _count_window(self, arriving_key: Hashable, now: datetime) -> list[ExpiredJoin]:
        join = self.subscription.join
        if not isinstance(join, JoinSpec) or not isinstance(join.within, int):
            return []
        expired: list[ExpiredJoin] = []
        for key, group in list(self.open.items()):
            if key == arriving_key:
                continue
            group.arrivals_after += 1
            if group.arrivals_after >= join.within:
                expired.append(self._expire(key, f"count window of {join.within} artifacts elapsed", now))
        return expired

    def expire_due(self, now: datetime) -> list[ExpiredJoin]:
        """Expire join groups whose time window has elapsed at `now`."""
        join = self.subscription.join
        if not isinstance(join, JoinSpec) or not isinstance(join.within, timedelta):
            return []
        window = join.within
        due = [key for key, group in self.open.items() if group.opened_at + window <= now]
        return [self._expire(key, f"time window of {window} elapsed", now) for key in due]

    def next_deadline(self) -> datetime | None:
        """When the oldest open join group expires, for time windows."""
        join = self.subscription.join
        if not isinstance(join, JoinSpec) or not isinstance(join.within, timedelta) or not self.open:
            return None
        return min(group.opened_at for group in self.open.values()) + join.within

    def _expire(self, key: Hashable, reason: str, now: datetime) -> ExpiredJoin:
        group = self.open.pop(key)
        items = list(group.artifacts())
        return ExpiredJoin(
            agent=self.agent,
            subscription=self.position,
            key=repr(key),
            artifact_ids=tuple(str(a.id) for a in items),
            types=tuple(a.type for a in items),
            reason=reason,
            expired_at=now,
        )

    def forget(self, ids: Collection[UUID]) -> None:
        """Drop these artifacts from the open groups (they were routed, but their step was never stored)."""
        for key, group in list(self.open.items()):
            for type_name, items in group.waiting.items():
                group.waiting[type_name] = [a for a in items if a.id not in ids]
            if not any(group.waiting.values()):
                del self.open[key]

    def waiting(self, correlation_id: str | None) -> int:
        """Artifacts waiting in open groups (optionally of one workflow)."""
        return sum(1 for g in self.open.values() for a in g.artifacts() if correlation_id in (None, a.correlation_id))


@dataclass(slots=True)
class PendingBatch:
    """Groups collected for one batch, and when the first one arrived."""

    groups: list[Group]
    opened_at: datetime


@dataclass(slots=True)
class BatchCollector:
    """Accumulates completed groups of one subscription into batches."""

    spec: BatchSpec
    batches: dict[str, PendingBatch] = field(default_factory=dict[str, PendingBatch])

    def add(self, group: Group, now: datetime) -> list[Group] | None:
        """Add a group; return the whole batch when it reaches its size."""
        key = group[0].correlation_id if self.spec.scope == "correlation" else ""
        batch = self.batches.setdefault(key, PendingBatch([], now))
        batch.groups.append(group)
        if len(batch.groups) >= self.spec.size:
            return self.batches.pop(key).groups
        return None

    def flush_due(self, now: datetime) -> list[list[Group]]:
        """Batches whose timeout has elapsed at `now`."""
        timeout = self.spec.timeout
        if timeout is None:
            return []
        due = [key for key, batch in self.batches.items() if batch.opened_at + timeout <= now]
        return [self.batches.pop(key).groups for key in due]

    def flush_all(self) -> list[list[Group]]:
        """Every partial batch (at idle, when `flush_on_idle`)."""
        if not self.spec.flush_on_idle:
            return []
        flushed = [batch.groups for batch in self.batches.values()]
        self.batches.clear()
        return flushed

    def forget(self, ids: Collection[UUID]) -> list[Artifact]:
        """Drop the groups that hold any of these artifacts; returns the other artifacts of those groups."""
        others: list[Artifact] = []
        for key, batch in list(self.batches.items()):
            kept: list[Group] = []
            for group in batch.groups:
                if any(a.id in ids for a in group):
                    others.extend(a for a in group if a.id not in ids)
                else:
                    kept.append(group)
            if kept:
                batch.groups[:] = kept
            else:
                del self.batches[key]
        return others

    def next_deadline(self) -> datetime | None:
        """When the oldest partial batch times out."""
        if self.spec.timeout is None or not self.batches:
            return None
        return min(batch.opened_at for batch in self.batches.values()) + self.spec.timeout

    def waiting(self, correlation_id: str | None) -> int:
        """Artifacts waiting in partial batches (optionally of one workflow)."""
        return sum(
            1
            for batch in self.batches.values()
            for group in batch.groups
            for a in group
            if correlation_id in (None, a.correlation_id)
        )
