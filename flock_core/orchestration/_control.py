"""Control over running workflows: cancelling and pausing them, on every store and across every worker.

A cancellation is durable: the store records the workflow as cancelled and marks its pending and leased
work items `cancelled` in one transaction; work routed into it later is stored `cancelled` and never runs,
and an activation that finishes after the cancellation commits nothing. This process drops the
workflow's queued activations and cancels its running ones at once (a model call in flight is
cancelled); other workers do the same at their next lease renewal (within a third of a lease).

A pause is durable and board-wide too: while a workflow (or the whole board) is paused, the store leases
and claims none of its pending work; activations already running finish, and what they route waits.
Resuming hands the waiting work back to this process's runtime (a shared board's workers claim it).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from .._tracing import Attr, FlockTracer
from ..blackboard._store import BlackboardStore
from ..exceptions import ConfigurationError
from ._conditions import Condition
from ._events import EventBus, WorkflowCancelled, WorkflowPaused
from ._runtime import Runtime

__all__ = ["WorkflowControl"]


class WorkflowControl:
    """Cancels workflows in the store (durably, for every worker) and in this process's runtime."""

    def __init__(
        self,
        store: BlackboardStore,
        runtime: Runtime,
        events: EventBus,
        tracer: FlockTracer,
        readmit: Callable[[str | None], Awaitable[None]],
    ) -> None:
        self._store = store
        self._readmit = readmit
        self._runtime = runtime
        self._events = events
        self._tracer = tracer

    async def cancel(self, correlation_id: str, reason: str, *, running: bool = True) -> int:
        """Cancel one workflow; returns how many queued or running work items were cancelled (0 if none).

        `running=False` (a budget stopped the workflow) lets this process's running activations finish the
        model call they are in: it was admitted within the budget, and its cost is counted. Their next
        call is refused, and what they produce is not stored.
        """
        if not isinstance(correlation_id, str) or not correlation_id:  # pyright: ignore[reportUnnecessaryIsInstance]
            raise ConfigurationError(f"cancel needs a workflow's correlation id, got {correlation_id!r}")
        with self._tracer.control("cancel_workflow", correlation_id, {Attr.CANCEL_REASON: reason}) as span:
            records = await self._store.cancel_workflow(correlation_id, reason)
            self._runtime.cancel(correlation_id, running=running)
            if span.is_recording():
                span.set_attribute(Attr.CANCELLED_WORK, len(records))
        if self._events.listening:
            self._events.emit(WorkflowCancelled(correlation_id, reason, len(records)))
        return len(records)

    async def rest(self, condition: Condition) -> list[str]:
        """After `run_until(condition)` stopped: the workflows to cancel, those it names, else every unfinished one."""
        workflows = set(condition.workflows())
        if not workflows:
            workflows = {r.correlation_id for r in await self._store.work(("pending", "leased"))}
        return sorted(workflows)

    async def pause(self, correlation_id: str | None, paused: bool) -> None:
        """Pause (or resume) one workflow, or every workflow on the board (`None`)."""
        if correlation_id is not None and (not isinstance(correlation_id, str) or not correlation_id):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise ConfigurationError(f"pause and resume need a correlation id or None, got {correlation_id!r}")
        with self._tracer.control("pause_workflow" if paused else "resume_workflow", correlation_id):
            await self._store.pause_workflow(correlation_id, paused)
            if not paused:
                await self._readmit(correlation_id)
        if self._events.listening:
            self._events.emit(WorkflowPaused(correlation_id, paused))

    async def state(self, correlation_id: str) -> tuple[str | None, bool]:
        """Why the workflow was cancelled (`None`: it was not), and whether it is paused."""
        paused = await self._store.paused_workflows()
        reason = (await self._store.cancelled_workflows()).get(correlation_id)
        return reason, None in paused or correlation_id in paused
