"""Control over running workflows: cancelling one, on every store and across every worker.

A cancellation is durable: the store records the workflow as cancelled and marks its pending and leased
work items `cancelled` in one transaction; work routed into it later is stored `cancelled` and never runs,
and an activation that finishes after the cancellation commits nothing. This process drops the
workflow's queued activations and cancels its running ones at once (a model call in flight is
cancelled); other workers do the same at their next lease renewal (within a third of a lease).
"""

from __future__ import annotations

from .._tracing import Attr, FlockTracer
from ..blackboard._store import BlackboardStore
from ..exceptions import ConfigurationError
from ._conditions import Condition
from ._events import EventBus, WorkflowCancelled
from ._runtime import Runtime

__all__ = ["WorkflowControl"]


class WorkflowControl:
    """Cancels workflows in the store (durably, for every worker) and in this process's runtime."""

    def __init__(self, store: BlackboardStore, runtime: Runtime, events: EventBus, tracer: FlockTracer) -> None:
        self._store = store
        self._runtime = runtime
        self._events = events
        self._tracer = tracer

    async def cancel(self, correlation_id: str, reason: str) -> int:
        """Cancel one workflow; returns how many queued or running work items were cancelled (0 if none)."""
        if not isinstance(correlation_id, str) or not correlation_id:  # pyright: ignore[reportUnnecessaryIsInstance]
            raise ConfigurationError(f"cancel needs a workflow's correlation id, got {correlation_id!r}")
        with self._tracer.cancel(correlation_id, reason) as span:
            records = await self._store.cancel_workflow(correlation_id, reason)
            self._runtime.cancel(correlation_id)
            if span.is_recording():
                span.set_attribute(Attr.CANCELLED_WORK, len(records))
        if self._events.listening:
            self._events.emit(WorkflowCancelled(correlation_id, reason, len(records)))
        return len(records)

    async def cancel_rest(self, condition: Condition, reason: str) -> None:
        """After `run_until(condition)` stopped: cancel the workflows it names, else every unfinished one."""
        workflows = set(condition.workflows())
        if not workflows:
            workflows = {r.correlation_id for r in await self._store.work(("pending", "leased"))}
        for correlation_id in sorted(workflows):
            await self.cancel(correlation_id, reason)

    async def reason(self, correlation_id: str) -> str | None:
        """Why the workflow was cancelled, or `None` when it was not."""
        return (await self._store.cancelled_workflows()).get(correlation_id)
