"""Run events for observers (HTTP streams, dashboards, progress bars): typed, in-process, non-blocking."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from .._clock import utcnow
from ..blackboard._artifacts import Artifact
from ..blackboard._visibility import Visibility

__all__ = [
    "ActivationFailed",
    "ActivationFinished",
    "ActivationStarted",
    "ApprovalDecided",
    "ApprovalRequested",
    "ArtifactPublished",
    "EventBus",
    "FlockEvent",
    "OptimizationProgress",
    "TokenRelay",
    "TokenStreamed",
    "WorkflowCancelled",
    "WorkflowPaused",
]

_log = logging.getLogger("flock_core.events")


@dataclass(frozen=True, slots=True)
class ArtifactPublished:
    """An artifact was stored on the board."""

    artifact: Artifact
    kind: Literal["artifact_published"] = "artifact_published"
    at: datetime = field(default_factory=utcnow)


@dataclass(frozen=True, slots=True)
class ActivationStarted:
    """An agent started working on a work item."""

    agent: str
    work_key: str
    correlation_id: str
    input_ids: tuple[str, ...]
    kind: Literal["activation_started"] = "activation_started"
    at: datetime = field(default_factory=utcnow)


@dataclass(frozen=True, slots=True)
class ActivationFinished:
    """An activation published its outputs."""

    agent: str
    work_key: str
    correlation_id: str
    output_ids: tuple[str, ...]
    kind: Literal["activation_finished"] = "activation_finished"
    at: datetime = field(default_factory=utcnow)


@dataclass(frozen=True, slots=True)
class ActivationFailed:
    """An activation failed; a `WorkflowError` artifact records it (for `Flock.invoke`, the caller gets the error).

    `read` is who may see `message` (it may quote anything the activation read): the combined visibility of
    its inputs and context, as on the `WorkflowError`; `None` when unknown, and then no identity may.
    """

    agent: str
    work_key: str
    correlation_id: str
    error_type: str
    message: str
    kind: Literal["activation_failed"] = "activation_failed"
    at: datetime = field(default_factory=utcnow)
    read: Visibility | None = None


@dataclass(frozen=True, slots=True)
class TokenStreamed:
    """A chunk of model output, as a streaming engine received it, while an activation runs.

    Only subscribers that asked for tokens (`EventBus.subscribe(..., tokens=True)`) receive these, and
    engines stream only while one is subscribed. The text is the model's raw output in the adapter's
    format; what is published is still the contract-checked result of the whole completion.

    Attributes:
        agent: the agent whose engine is running.
        work_key: the activation (as in `ActivationStarted.work_key`).
        text: the new chunk (append the chunks of one `work_key` and `attempt` for the whole text).
        correlation_id: the workflow.
        attempt: 0 for the first engine call of an output group, 1, 2, ... for repair attempts.
        read: who may see `text` (model output may quote anything the activation read): the combined
            visibility of its inputs and context; `None` when unknown, and then no identity may.
    """

    agent: str
    work_key: str
    text: str
    correlation_id: str = ""
    attempt: int = 0
    kind: Literal["token_streamed"] = "token_streamed"
    at: datetime = field(default_factory=utcnow)
    read: Visibility | None = None


@dataclass(frozen=True, slots=True)
class WorkflowCancelled:
    """A workflow was cancelled: its queued work dropped, its running activations stopped.

    Attributes:
        correlation_id: the workflow.
        reason: why, as given to `Flock.cancel`.
        work_items: how many queued or running work items were cancelled (on every worker).
    """

    correlation_id: str
    reason: str
    work_items: int
    kind: Literal["workflow_cancelled"] = "workflow_cancelled"
    at: datetime = field(default_factory=utcnow)


@dataclass(frozen=True, slots=True)
class WorkflowPaused:
    """A workflow (or, with `correlation_id=None`, every workflow) was paused, or resumed (`paused=False`)."""

    correlation_id: str | None
    paused: bool
    kind: Literal["workflow_paused"] = "workflow_paused"
    at: datetime = field(default_factory=utcnow)


@dataclass(frozen=True, slots=True)
class ApprovalRequested:
    """An activation's outputs are held until one of `approvers` decides (`Flock.approvals()` lists them)."""

    approval_id: str
    agent: str
    correlation_id: str
    approvers: tuple[str, ...]
    held: int
    kind: Literal["approval_requested"] = "approval_requested"
    at: datetime = field(default_factory=utcnow)


@dataclass(frozen=True, slots=True)
class ApprovalDecided:
    """Held outputs were approved (and published) or rejected, by an approver or (`by="timeout"`) a timeout."""

    approval_id: str
    agent: str
    correlation_id: str
    outcome: Literal["approved", "rejected"]
    by: str
    reason: str | None
    kind: Literal["approval_decided"] = "approval_decided"
    at: datetime = field(default_factory=utcnow)


@dataclass(frozen=True, slots=True)
class OptimizationProgress:
    """Where an optimization of this Flock's learned state stands (emitted by `engines.OptimizationRun`).

    Emitted when it starts (`state="started"`), after every completed trial (`state="running"`, with that
    trial), when it pauses and resumes, and when it ends (`finished`, `cancelled` or `failed`).

    Attributes:
        optimization_id: the optimization.
        correlation_prefix: the start of the correlation id of every workflow run the optimization makes. The
            event stream shows an optimization's progress only to a caller that saw it start and may see
            every artifact of those runs (its scores are computed from them).
        state: `started`, `running`, `paused`, `finished`, `cancelled` or `failed`.
        trials_done: completed trials (including those resumed from a checkpoint).
        trials_total: the planned number of trials.
        trial: the label of the trial just completed, if this event reports one.
        score: that trial's score, if it has one.
        best_score: the best score so far.
        calls: model calls so far (across resumes).
        input_tokens: input tokens so far.
        output_tokens: output tokens so far.
        cost: US dollars so far, as the budget's meter priced the calls.
    """

    optimization_id: str
    correlation_prefix: str
    state: Literal["started", "running", "paused", "finished", "cancelled", "failed"]
    trials_done: int
    trials_total: int
    trial: str | None = None
    score: float | None = None
    best_score: float | None = None
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0
    kind: Literal["optimization_progress"] = "optimization_progress"
    at: datetime = field(default_factory=utcnow)


FlockEvent = (
    ArtifactPublished
    | ActivationStarted
    | ActivationFinished
    | ActivationFailed
    | TokenStreamed
    | WorkflowCancelled
    | WorkflowPaused
    | ApprovalRequested
    | ApprovalDecided
    | OptimizationProgress
)


class EventBus:
    """Delivers events to subscribers synchronously; a subscriber that raises is logged and kept.

    Subscribers must not block: hand events to a queue (for example an anyio memory stream with
    `send_nowait`) and consume them elsewhere. `TokenStreamed` events go only to subscribers that
    asked for them with `tokens=True`; while there is none, engines do not stream at all.

    >>> bus = EventBus()
    >>> bus.listening, bus.streaming
    (False, False)
    >>> seen: list[str] = []
    >>> unsubscribe = bus.subscribe(lambda event: seen.append("counts " + event.kind))
    >>> bus.listening, bus.streaming
    (True, False)
    >>> _ = bus.subscribe(lambda event: seen.append("tokens " + event.kind), tokens=True)
    >>> bus.streaming
    True
    >>> bus.emit(TokenStreamed("writer", "work-1", "Once"))
    >>> seen
    ['tokens token_streamed']
    """

    def __init__(self) -> None:
        self._subscribers: list[Callable[[FlockEvent], None]] = []
        self._token_subscribers: list[Callable[[FlockEvent], None]] = []
        # Plain attributes, kept by `subscribe` and its `unsubscribe`, not properties: every activation
        # and every stored artifact asks, and a property is a call each time.
        self.listening = False
        """Whether anyone subscribed (emitters skip building events nobody receives); read it, do not set it."""
        self.streaming = False
        """Whether a subscriber wants `TokenStreamed` events (activations stream only when one does)."""

    def subscribe(self, subscriber: Callable[[FlockEvent], None], *, tokens: bool = False) -> Callable[[], None]:
        """Add a subscriber (with `tokens`, it also receives `TokenStreamed`); returns a function that removes it."""
        self._subscribers.append(subscriber)
        if tokens:
            self._token_subscribers.append(subscriber)
        self._counted()

        def unsubscribe() -> None:
            self._subscribers.remove(subscriber)
            if tokens:
                self._token_subscribers.remove(subscriber)
            self._counted()

        return unsubscribe

    def _counted(self) -> None:
        self.listening = bool(self._subscribers)
        self.streaming = bool(self._token_subscribers)

    def emit(self, event: FlockEvent) -> None:
        """Deliver `event` to every subscriber (a `TokenStreamed` only to those that asked for tokens)."""
        subscribers = self._token_subscribers if isinstance(event, TokenStreamed) else self._subscribers
        for subscriber in tuple(subscribers):
            try:
                subscriber(event)
            except Exception:  # noqa: BLE001 - an observer must never break a run
                _log.exception("event subscriber %r raised on %s", subscriber, event.kind)


@dataclass(frozen=True, slots=True)
class TokenRelay:
    """Turns one activation's streamed text into `TokenStreamed` events (an engine's `on_token`, bound to an attempt).

    >>> bus = EventBus()
    >>> seen: list[FlockEvent] = []
    >>> _ = bus.subscribe(seen.append, tokens=True)
    >>> TokenRelay(bus, "writer", "work-1", "run-1")("Once upon", attempt=1)
    >>> [(e.text, e.attempt) for e in seen if isinstance(e, TokenStreamed)]
    [('Once upon', 1)]
    """

    events: EventBus
    agent: str
    work_key: str
    correlation_id: str
    read: Visibility | None = None

    def __call__(self, text: str, attempt: int = 0) -> None:
        """Emit `text` (nothing for an empty chunk)."""
        if text:
            token = TokenStreamed(self.agent, self.work_key, text, self.correlation_id, attempt, read=self.read)
            self.events.emit(token)
