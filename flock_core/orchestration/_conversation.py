"""Conversations: a workflow of turns. Each turn publishes one message and returns what answered it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel

from ..agents._context import TURN_TAG
from ..blackboard._artifacts import EXTERNAL_PRODUCER, Artifact, WorkflowError
from ..blackboard._registry import TypeRegistry
from ..blackboard._store import ArtifactQuery
from ..blackboard._visibility import AgentIdentity, Visibility
from ..exceptions import ConfigurationError, ConversationClosedError

if TYPE_CHECKING:
    from ._orchestrator import Orchestrator

__all__ = ["Conversation", "Turn", "replies_to"]

M = TypeVar("M", bound=BaseModel)

MAX_ID_CHARS = 200
"""The longest conversation id (the HTTP API takes correlation ids up to this long as well)."""


@dataclass(frozen=True, slots=True)
class Turn:
    """One turn of a conversation: the message sent, and everything produced in answer to it.

    Attributes:
        message: the stored message that started the turn.
        replies: the artifacts derived from it (its lineage descendants), oldest first, errors included.
        registry: resolves payload types for `get`.
    """

    message: Artifact
    replies: tuple[Artifact, ...]
    registry: TypeRegistry

    @property
    def conversation_id(self) -> str:
        """The conversation (the workflow's correlation id)."""
        return self.message.correlation_id

    def get(self, model: type[M]) -> list[M]:
        """The replies of one type, as `model` instances, oldest first."""
        name = self.registry.name_of(model)
        return [a.as_model(model) for a in self.replies if a.type == name]

    def reply(self, model: type[M]) -> M:
        """The latest reply of type `model`.

        Raises:
            LookupError: nothing of that type answered the turn (see `errors` for why).
        """
        found = self.get(model)
        if not found:
            errors = "; ".join(f"{e.agent}: {e.message}" for e in self.errors) or "no agent answered"
            raise LookupError(f"no {model.__name__} answered this turn ({errors})")
        return found[-1]

    @property
    def errors(self) -> list[WorkflowError]:
        """The `WorkflowError`s of activations this turn started."""
        return self.get(WorkflowError)


def replies_to(message: Artifact, workflow: tuple[Artifact, ...]) -> tuple[Artifact, ...]:
    """The artifacts of `workflow` (oldest first) whose lineage leads back to `message`."""
    reached = {message.id}
    replies: list[Artifact] = []
    for artifact in workflow:
        if reached.intersection(artifact.consumed_from):
            reached.add(artifact.id)
            replies.append(artifact)
    return tuple(replies)


def check_conversation_id(conversation_id: object) -> str:
    """`conversation_id` if it is a usable id, else a `ConfigurationError` naming the argument."""
    if not isinstance(conversation_id, str) or not conversation_id.strip() or len(conversation_id) > MAX_ID_CHARS:
        raise ConfigurationError(
            f"conversation(id={conversation_id!r}): an id is a non-empty string of at most {MAX_ID_CHARS} characters",
            setting="conversation_id",
        )
    return conversation_id


class Conversation:
    """A conversation with the Flock's agents, continued from the store by its id (see `Flock.conversation`).

    The conversation is one workflow: its id is the correlation id of every turn's message and of
    everything the agents produce in answer, so `Flock.cancel(id)` ends it and `get_correlation_status(id)`
    reports on it.
    """

    def __init__(self, core: Orchestrator, conversation_id: str) -> None:
        self._core = core
        self.id = check_conversation_id(conversation_id)

    def __repr__(self) -> str:
        return f"Conversation({self.id!r})"

    async def send(
        self,
        message: BaseModel | Mapping[str, Any],
        *,
        visibility: Visibility | None = None,
        produced_by: str = EXTERNAL_PRODUCER,
        timeout: float | None = None,
    ) -> Turn:
        """Publish `message` as the next turn, run until idle, and return the turn with its replies.

        Raises:
            ConversationClosedError: the conversation was cancelled.
            RunTimeoutError: the run did not become idle within `timeout` seconds.
        """
        artifact = await self.publish(message, visibility=visibility, produced_by=produced_by)
        await self._core.run_until_idle(timeout)
        return await self.turn(artifact)

    async def publish(
        self,
        message: BaseModel | Mapping[str, Any],
        *,
        visibility: Visibility | None = None,
        produced_by: str = EXTERNAL_PRODUCER,
    ) -> Artifact:
        """Publish `message` as the next turn without running it (a server's worker runs it)."""
        reason = (await self._core.store.cancelled_workflows()).get(self.id)
        if reason is not None:
            raise ConversationClosedError(self.id, reason)
        return await self._core.publish(
            message, visibility=visibility, correlation_id=self.id, tags=(TURN_TAG,), produced_by=produced_by
        )

    async def turn(self, message: Artifact) -> Turn:
        """The turn `message` started, with the replies stored so far."""
        since = ArtifactQuery(correlation_id=self.id, since=message.created_at)  # replies come after the message
        workflow = (await self._core.store.query(since)).items
        return Turn(message, replies_to(message, workflow), self._core.registry)

    async def history(self, visible_to: AgentIdentity | None = None) -> list[Artifact]:
        """Every artifact of the conversation, oldest first; with `visible_to`, only what that identity may see."""
        query = ArtifactQuery(correlation_id=self.id, visible_to=visible_to, now=self._core.clock.now())
        return list((await self._core.store.query(query)).items)
