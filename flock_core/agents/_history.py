"""Conversation history: the earlier turns of a conversation, as context for the agents that ask for it.

A conversation is one workflow (its correlation id is the conversation id): each turn publishes one
message into it, tagged `TURN_TAG`, and the agents answer in the same workflow. By default an agent in a
conversation sees only the current turn (`CorrelationContext` starts at the latest turn message); an
agent declared with `.with_history()` sees the earlier turns too, through `ConversationHistory`.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from .._ids import new_id
from ..blackboard._artifacts import Artifact
from ..blackboard._store import ArtifactQuery
from ._context import TURN_TAG, ContextRequest
from ._flow import read_visibility

__all__ = ["SUMMARY_PRODUCER", "SUMMARY_TYPE", "TURN_TAG", "ConversationHistory", "Summarizer"]

SUMMARY_TYPE = "ConversationSummary"
"""The type name of the context item that stands for the turns left out of a long history."""

SUMMARY_PRODUCER = "flock"
"""The producer of that summary item (it is never stored: it exists only in the activation's context)."""

Summarizer = Callable[[Sequence[Artifact]], str | Awaitable[str]]
"""Condenses the turns left out of a history into a text (sync or async)."""

_ERROR_TYPE = "WorkflowError"


@dataclass(frozen=True, slots=True)
class ConversationHistory:
    """The earlier turns of the activation's conversation, bounded: what `.with_history()` gives an agent.

    A turn is one artifact of the conversation: a message sent with `Conversation.send` or an agent's
    output. The history holds the turns before the activation's inputs that

    - the agent may see (as all context: a provider cannot widen what an agent sees), and
    - everyone who may see the inputs may see too: a turn that the caller of the current turn may not see
      is left out, so the reply stays visible to that caller (it inherits the visibility of what was read);
    - are not `WorkflowError`s.

    Past `max_turns` turns or `max_chars` characters of payload JSON, the oldest are left out and one
    `ConversationSummary` item stands first for them: `{"omitted_turns": n, "summary": text}`, where the
    text is what `summarize` makes of the left-out turns (called at each such activation: cache it if it
    calls a model), or by default only a notice that they are left out.

    Args:
        max_turns: the most turns shown (default 20).
        max_chars: the most characters of payload JSON shown (default 20,000).
        summarize: condenses the left-out turns into a text (default: none, a notice only).
    """

    max_turns: int = 20
    max_chars: int = 20_000
    summarize: Summarizer | None = None

    async def provide(self, request: ContextRequest) -> Sequence[Artifact]:
        """The bounded, visibility-checked history, oldest first, led by a summary item if turns were left out."""
        if request.correlation_id is None or not request.inputs:
            return []
        query = ArtifactQuery(correlation_id=request.correlation_id, visible_to=request.agent.identity, now=request.now)
        items = list((await request.store.query(query)).items)
        own = {a.id for a in request.inputs}
        last = max((i for i, a in enumerate(items) if a.id in own), default=len(items))
        audience = read_visibility(request.inputs)
        turns = [
            a
            for a in items[:last]
            if a.id not in own and a.type != _ERROR_TYPE and read_visibility((*request.inputs, a)) == audience
        ]
        kept = self._bounded(turns)
        omitted = turns[: len(turns) - len(kept)]
        if not omitted:
            return kept
        return [await self._summary(omitted), *kept]

    def _bounded(self, turns: Sequence[Artifact]) -> list[Artifact]:
        kept: list[Artifact] = []
        chars = 0
        for artifact in reversed(turns[-self.max_turns :] if self.max_turns else ()):
            chars += len(artifact.model_dump_json(include={"payload"}))
            if chars > self.max_chars:
                break
            kept.append(artifact)
        return kept[::-1]

    async def _summary(self, omitted: Sequence[Artifact]) -> Artifact:
        text = f"{len(omitted)} earlier turns of this conversation are left out"
        if self.summarize is not None:
            made = self.summarize(omitted)
            text = await made if inspect.isawaitable(made) else made
        return Artifact(
            id=new_id(),
            type=SUMMARY_TYPE,
            payload={"omitted_turns": len(omitted), "summary": str(text)},
            produced_by=SUMMARY_PRODUCER,
            correlation_id=omitted[-1].correlation_id,
            visibility=read_visibility(omitted),
            created_at=omitted[-1].created_at,
        )
