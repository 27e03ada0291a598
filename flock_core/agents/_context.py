"""Context providers: what an activation sees besides its inputs. Visibility always applies."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from .._records import plain_init
from ..blackboard._artifacts import Artifact
from ..blackboard._store import ArtifactQuery, BlackboardStore
from ..blackboard._visibility import PublicVisibility, is_visible
from ._spec import AgentSpec

TURN_TAG = "flock:turn"
"""The tag on the message each conversation turn starts with (`Conversation.send`, the chat endpoint)."""

__all__ = [
    "TURN_TAG",
    "ContextProvider",
    "ContextRequest",
    "CorrelationContext",
    "FilteredContext",
    "NoContext",
    "RecentContext",
    "provide_context",
    "visible_matches",
]


@plain_init
@dataclass(frozen=True, slots=True)
class ContextRequest:
    """What a provider knows: the store, the agent, its inputs, and the current time."""

    store: BlackboardStore
    agent: AgentSpec
    inputs: tuple[Artifact, ...]
    now: datetime

    @property
    def correlation_id(self) -> str | None:
        """The workflow of the inputs (none for a timer tick)."""
        return self.inputs[0].correlation_id if self.inputs else None


@runtime_checkable
class ContextProvider(Protocol):
    """Chooses context artifacts. The core then drops any the agent may not see: a provider cannot widen it."""

    async def provide(self, request: ContextRequest) -> Sequence[Artifact]:
        """Return candidate context artifacts, oldest first."""
        ...


async def visible_matches(request: ContextRequest, query: ArtifactQuery, limit: int) -> list[Artifact]:
    """The latest `limit` artifacts matching `query` that the agent may see, excluding its inputs."""
    query = dataclasses.replace(query, visible_to=request.agent.identity, now=request.now, offset=0, limit=None)
    return await _latest(request, query, limit)


async def _latest(request: ContextRequest, query: ArtifactQuery, limit: int) -> list[Artifact]:
    own = _ids(request.inputs)
    items = [a for a in (await request.store.query(query)).items if a.id.int not in own]
    return items[-limit:] if limit else []


def _ids(artifacts: Sequence[Artifact]) -> set[int]:
    """The artifacts' ids as integers: hashing and comparing them is C code, not `UUID.__hash__`."""
    if len(artifacts) == 1:  # an activation's one input (most): no comprehension to call
        return {artifacts[0].id.int}
    return {a.id.int for a in artifacts}


def _current_turn(items: Sequence[Artifact], inputs: Sequence[Artifact]) -> list[Artifact]:
    """`items` from the latest turn message before the inputs (from the start without one), inputs excluded."""
    own = _ids(inputs)
    last = len(items) - 1
    for index in range(last, -1, -1):  # the latest input (usually the latest artifact)
        if items[index].id.int in own:
            last = index
            break
    start = 0
    for index in range(last, -1, -1):
        if TURN_TAG in items[index].tags:
            start = index
            break
    return [a for a in items[start:] if a.id.int not in own]


@dataclass(frozen=True, slots=True)
class CorrelationContext:
    """The default: the latest `limit` artifacts of the inputs' own workflow that the agent may see.

    Context never crosses workflows, so prompt size does not grow with the history of the board. In a
    conversation (a workflow of turns, see `Flock.conversation`) it is the current turn only: it starts at
    the latest turn message before the inputs; earlier turns are for agents declared `.with_history()`.
    """

    limit: int = 50

    async def provide(self, request: ContextRequest) -> Sequence[Artifact]:
        """Artifacts of the same correlation id (of the current turn, in a conversation), excluding the inputs."""
        if (correlation_id := request.correlation_id) is None:
            return []
        query = ArtifactQuery(correlation_id=correlation_id, visible_to=request.agent.identity, now=request.now)
        kept = _current_turn((await request.store.query(query)).items, request.inputs)
        return kept[-self.limit :] if self.limit else []


@dataclass(frozen=True, slots=True)
class NoContext:
    """No context at all: the engine sees only the inputs."""

    async def provide(self, request: ContextRequest) -> Sequence[Artifact]:
        """Nothing."""
        return []


@dataclass(frozen=True, slots=True)
class RecentContext:
    """The latest `n` artifacts the agent may see, across all workflows."""

    n: int = 20

    async def provide(self, request: ContextRequest) -> Sequence[Artifact]:
        """The most recent visible artifacts on the whole board."""
        return await visible_matches(request, ArtifactQuery(), self.n)


@dataclass(frozen=True, slots=True)
class FilteredContext:
    """Artifacts of some types and/or carrying some tags, in the same workflow unless `same_workflow=False`.

    The same-workflow default keeps context (and prompt size) bounded by one workflow, as the default
    `CorrelationContext` does; Flock's `FilteredContextProvider` (whole board unless its `FilterConfig`
    names a workflow) is available too.
    """

    types: frozenset[str] | None = None
    tags: frozenset[str] | None = None
    same_workflow: bool = True
    limit: int = 50

    async def provide(self, request: ContextRequest) -> Sequence[Artifact]:
        """Matching visible artifacts, most recent `limit`."""
        cid = request.correlation_id if self.same_workflow else None
        if self.same_workflow and cid is None:
            return []
        return await visible_matches(
            request, ArtifactQuery(types=self.types, tags=self.tags, correlation_id=cid), self.limit
        )


async def provide_context(provider: ContextProvider, request: ContextRequest) -> tuple[Artifact, ...]:
    """Run `provider` and keep only what the agent may see (fail closed) and is not one of its inputs."""
    candidates = await provider.provide(request)
    if not candidates:
        return ()
    own = _ids(request.inputs)
    identity, now = request.agent.identity, request.now
    return tuple(
        [
            artifact
            for artifact in candidates
            if artifact.id.int not in own
            and (
                type(visibility := artifact.visibility) is PublicVisibility  # `is_visible`'s first test, inline
                or is_visible(visibility, identity, created_at=artifact.created_at, now=now)
            )
        ]
    )
