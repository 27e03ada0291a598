"""Dead letters: work that failed for good, kept in the store with its error until it is replayed.

A work item becomes a dead letter when its agent's retry policy gives up (the error was not transient,
or every attempt failed), or when it crashed its process too often. It stays `failed` in the store
(durable on SQLite and PostgreSQL) and its `WorkflowError` artifact stays on the board. Replaying puts
it back to pending with its attempts reset: the next run (or any worker of a shared board) runs it
again, so replay after fixing the cause.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from .._clock import utcnow
from ..blackboard._store import BlackboardStore
from ..blackboard._visibility import AgentIdentity, is_visible
from ..blackboard._work import WorkRecord

__all__ = ["DeadLetter", "DeadLetters"]


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A work item that failed for good (`Flock.dead_letters()`).

    Attributes:
        key: the work item's key: pass it to `Flock.replay`.
        agent: the agent that failed.
        correlation_id: the workflow it belongs to.
        input_ids: the artifacts it was activated with.
        attempts: how many times it was started.
        error: the error of the last attempt.
    """

    key: str
    agent: str
    correlation_id: str
    input_ids: tuple[UUID, ...]
    attempts: int
    error: str | None

    def as_json(self) -> dict[str, object]:
        """The dead letter as JSON (what HTTP and `flock dead-letters list --json` show)."""
        return {
            "key": self.key,
            "agent": self.agent,
            "correlation_id": self.correlation_id,
            "input_ids": [str(i) for i in self.input_ids],
            "attempts": self.attempts,
            "error": self.error,
        }

    @classmethod
    def of(cls, record: WorkRecord) -> DeadLetter:
        """The dead letter a failed work record is."""
        return cls(
            record.key, record.agent, record.correlation_id, record.input_ids, record.attempts, record.last_error
        )


class DeadLetters:
    """Lists and replays the failed work items of a board.

    Args:
        store: where the failed work items are kept.
        requeue: puts one failed item back to pending and hands it to this process's board.
    """

    def __init__(self, store: BlackboardStore, requeue: Callable[[str], Awaitable[bool]]) -> None:
        self._store = store
        self._requeue = requeue

    async def list(
        self,
        *,
        agent: str | None = None,
        correlation_id: str | None = None,
        visible_to: AgentIdentity | None = None,
        now: datetime | None = None,
    ) -> list[DeadLetter]:
        """Dead letters, oldest first, optionally of one agent or workflow, or only those `visible_to` may see.

        A caller sees a dead letter only when it may see every one of its inputs (at `now`); one without
        inputs (a timer tick) or with an input no longer stored is hidden from every caller (fails closed).
        """
        records = [
            r
            for r in await self._store.work(("failed",), correlation_id=correlation_id)
            if agent is None or r.agent == agent
        ]
        if visible_to is not None:
            records = await self._visible(records, visible_to, now)
        return [DeadLetter.of(r) for r in records]

    async def _visible(
        self, records: Iterable[WorkRecord], identity: AgentIdentity, now: datetime | None
    ) -> list[WorkRecord]:
        shown: list[WorkRecord] = []
        for record in records:
            inputs = await self._store.get_many(record.input_ids)
            if not inputs or {a.id for a in inputs} != set(record.input_ids):
                continue
            when = now or utcnow()
            if all(is_visible(a.visibility, identity, created_at=a.created_at, now=when) for a in inputs):
                shown.append(record)
        return shown

    async def replay(self, key: str) -> bool:
        """Put one dead letter back in the queue (attempts reset); returns whether `key` was a dead letter."""
        return await self._requeue(key)

    async def replay_all(self, letters: Iterable[DeadLetter]) -> int:
        """Replay each of `letters`; returns how many were still dead letters (and now are queued)."""
        return sum([await self._requeue(letter.key) for letter in letters])
