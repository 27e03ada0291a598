"""The orchestrator behind `Flock`: routes artifacts, runs activations, records failures, fires timers."""

from __future__ import annotations

import logging
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, time, timedelta
from typing import Any

from pydantic import BaseModel

from ._activation import ActivationRunner, UsageMeter
from ._artifacts import Artifact, WorkflowError
from ._clock import Clock
from ._collectors import ExpiredJoin
from ._context import ContextProvider, ContextRequest, provide_context
from ._cron import CronExpression
from ._default_engine import load_default_engine
from ._engine import Engine, Usage
from ._ids import new_id
from ._patterns import ScheduleSpec, Tick
from ._payloads import to_payload
from ._registry import TypeRegistry
from ._runtime import Runtime, WorkItem
from ._scheduler import Activation, Rejection, Scheduler
from ._spec import AgentSpec
from ._store import BlackboardStore
from ._visibility import PublicVisibility, Visibility, visible_from
from .exceptions import CircuitBreakerTripped

__all__ = ["Orchestrator"]

_log = logging.getLogger("flock_core")


class Orchestrator:
    """Owns the run-time state of one `Flock`; implements the runtime's host callbacks."""

    def __init__(
        self,
        *,
        registry: TypeRegistry,
        store: BlackboardStore,
        clock: Clock,
        model: str | None,
        engine: Engine | None,
        context: ContextProvider,
        max_agent_iterations: int,
        max_concurrency: int,
    ) -> None:
        self.registry = registry
        self.store = store
        self.clock = clock
        self.context = context
        self.max_agent_iterations = max_agent_iterations
        self.specs: dict[str, AgentSpec] = {}
        self.rejections: deque[Rejection] = deque(maxlen=1000)
        self.expired_joins: list[ExpiredJoin] = []
        self.usage: dict[str, Usage] = {}
        self.listeners: list[Callable[[Artifact], None]] = []
        self.scheduler = Scheduler(registry, on_reject=self.rejections.append)
        self.runtime = Runtime(clock, max_concurrency, lambda name: self.specs[name].max_concurrency)
        self._default_engine = engine
        self._runner = ActivationRunner(registry, self.engine_for, model)
        self._iterations: Counter[tuple[str, str]] = Counter()
        self._tripped: set[tuple[str, str]] = set()
        self._initialized: set[str] = set()
        self._armed: set[str] = set()

    def update_spec(self, spec: AgentSpec) -> None:
        """Record a new or changed declaration."""
        self.specs[spec.name] = spec
        self.scheduler.update_agent(spec)

    def engine_for(self, spec: AgentSpec) -> Engine:
        """The agent's own engine, else the Flock's default (loaded on first use)."""
        if spec.engine is not None:
            return spec.engine
        if self._default_engine is None:
            self._default_engine = load_default_engine()
        return self._default_engine

    # -- artifacts -----------------------------------------------------------------------------------

    def make_artifact(
        self,
        obj: BaseModel | Mapping[str, Any],
        *,
        visibility: Visibility | None = None,
        correlation_id: str | None = None,
        partition_key: str | None = None,
        tags: Iterable[str] | None = None,
        produced_by: str = "external",
        consumed_from: Sequence[Artifact] = (),
    ) -> Artifact:
        """Validate `obj` and wrap it in a new artifact stamped with the clock's time."""
        type_name, payload = to_payload(self.registry, obj)
        return Artifact(
            type=type_name,
            payload=payload,
            produced_by=produced_by,
            correlation_id=correlation_id or str(new_id()),
            partition_key=partition_key,
            tags=frozenset(tags or ()),
            visibility=visibility or PublicVisibility(),
            created_at=self.clock.now(),
            consumed_from=tuple(a.id for a in consumed_from),
        )

    async def append_and_route(self, artifact: Artifact) -> None:
        """Store `artifact`, tell listeners, then route it (nothing is scheduled before it is stored)."""
        await self.store.append(artifact)
        for listener in self.listeners:
            listener(artifact)
        await self.route(artifact)

    async def route(self, artifact: Artifact) -> None:
        """Queue the activations `artifact` completes, or wait until it becomes visible."""
        now = self.clock.now()
        visible_at = visible_from(artifact.visibility, artifact.created_at)
        if visible_at > now:

            async def release() -> None:
                await self.route(artifact)

            self.runtime.call_at(visible_at, release, hard=True, kind="delayed", correlation_id=artifact.correlation_id)
            return
        ready, expired = self.scheduler.route(artifact, now)
        self._report_expired(expired)
        for activation in ready:
            self._submit(activation)

    def _submit(self, activation: Activation, tick: Tick | None = None) -> None:
        cids = {a.correlation_id for a in activation.inputs}
        cid = cids.pop() if len(cids) == 1 else str(new_id())
        self.runtime.submit(WorkItem(activation, cid, tick))

    def _report_expired(self, expired: Iterable[ExpiredJoin]) -> None:
        for record in expired:
            _log.warning(
                "join of agent %r key %s expired (%s); %d artifact(s) stay on the board",
                record.agent,
                record.key,
                record.reason,
                len(record.artifact_ids),
            )
            self.expired_joins.append(record)

    # -- runtime host --------------------------------------------------------------------------------

    async def on_clock(self, now: datetime) -> None:
        """Expire joins and flush timed-out batches."""
        ready, expired = self.scheduler.expire_due(now)
        self._report_expired(expired)
        for activation in ready:
            self._submit(activation)

    def next_deadline(self) -> datetime | None:
        """The next join expiry or batch timeout."""
        return self.scheduler.next_deadline()

    async def on_idle(self) -> bool:
        """Flush partial batches that ask for it; report whether that queued work."""
        ready = self.scheduler.flush_on_idle()
        for activation in ready:
            self._submit(activation)
        return bool(ready)

    async def run_item(self, item: WorkItem) -> None:
        """Run one activation; any failure becomes a `WorkflowError` artifact."""
        activation = item.activation
        spec = self.specs[activation.agent]
        if not self._breaker_allows(spec, item.correlation_id):
            error = CircuitBreakerTripped(spec.name, self.max_agent_iterations)
            await self._publish_error(spec, activation.inputs, item.correlation_id, error)
            return
        await self.store.record_consumption(spec.name, [a.id for a in activation.inputs])
        meter = UsageMeter()
        try:
            await self.initialize(spec)
            request = ContextRequest(self.store, spec, activation.inputs, self.clock.now())
            context = await provide_context(spec.context or self.context, request)
            outputs = await self._runner.run(
                spec, activation.inputs, context, meter, tick=item.tick, batched=activation.batched
            )
        except Exception as exc:  # noqa: BLE001 - any failing activation is recorded as a WorkflowError; others keep running
            await self._fail(spec, activation, item.correlation_id, exc)
            return
        finally:
            self.usage[item.correlation_id] = self.usage.get(item.correlation_id, Usage()) + meter.total
        published: list[Artifact] = []
        for output in outputs:
            artifact = self.make_artifact(
                output.payload,
                visibility=output.visibility,
                correlation_id=item.correlation_id,
                partition_key=activation.inputs[0].partition_key if activation.inputs else None,
                produced_by=spec.name,
                consumed_from=activation.inputs,
            )
            await self.append_and_route(artifact)
            published.append(artifact)
        for component in spec.components:
            await component.on_post_publish(spec, published)

    async def evaluate_direct(self, spec: AgentSpec, source: Artifact) -> tuple[list[Artifact], Usage]:
        """Run `spec` on one artifact outside the queue (for `invoke`); errors propagate."""
        meter = UsageMeter()
        await self.initialize(spec)
        outputs = await self._runner.run(spec, (source,), (), meter)
        artifacts = [
            self.make_artifact(
                o.payload,
                visibility=o.visibility,
                correlation_id=source.correlation_id,
                produced_by=spec.name,
                consumed_from=(source,),
            )
            for o in outputs
        ]
        return artifacts, meter.total

    def _breaker_allows(self, spec: AgentSpec, correlation_id: str) -> bool:
        key = (spec.name, correlation_id)
        self._iterations[key] += 1
        return self._iterations[key] <= self.max_agent_iterations

    async def initialize(self, spec: AgentSpec) -> None:
        """Run the agent's `on_initialize` hooks once."""
        if spec.name not in self._initialized:
            self._initialized.add(spec.name)
            for component in spec.components:
                await component.on_initialize(spec)

    async def _fail(self, spec: AgentSpec, activation: Activation, correlation_id: str, exc: Exception) -> None:
        _log.warning("agent %r failed on %d input(s): %s", spec.name, len(activation.inputs), exc)
        for component in spec.components:
            try:
                await component.on_error(spec, exc)
            except Exception:  # noqa: BLE001 - a failing error hook must not hide the original failure
                _log.exception("on_error hook of agent %r raised", spec.name)
        await self._publish_error(spec, activation.inputs, correlation_id, exc)

    async def _publish_error(
        self, spec: AgentSpec, inputs: Sequence[Artifact], correlation_id: str, exc: Exception
    ) -> None:
        if isinstance(exc, CircuitBreakerTripped):
            key = (spec.name, correlation_id)
            if key in self._tripped:
                return
            self._tripped.add(key)
            _log.warning("%s", exc)
        error = WorkflowError(
            agent=spec.name,
            error_type=type(exc).__name__,
            message=str(exc),
            input_ids=[str(a.id) for a in inputs],
        )
        artifact = self.make_artifact(
            error,
            visibility=inputs[0].visibility if inputs else None,
            correlation_id=correlation_id,
            partition_key=inputs[0].partition_key if inputs else None,
            produced_by=spec.name,
            consumed_from=inputs,
        )
        await self.append_and_route(artifact)

    # -- timers --------------------------------------------------------------------------------------

    def arm_schedules(self) -> None:
        """Start the timers of scheduled agents that are not running yet."""
        now = self.clock.now()
        for spec in self.specs.values():
            if spec.schedule is not None and spec.name not in self._armed:
                self._armed.add(spec.name)
                first = _first_tick(spec.schedule, now)
                if first is not None:
                    self._arm(spec.name, spec.schedule, 1, first)

    def _arm(self, agent: str, schedule: ScheduleSpec, number: int, when: datetime) -> None:
        async def fire() -> None:
            self._submit(Activation(agent, -1, ()), Tick(number, when))
            if schedule.max_repeats is None or number < schedule.max_repeats:
                following = _next_tick(schedule, when)
                if following is not None:
                    self._arm(agent, schedule, number + 1, following)

        self.runtime.call_at(when, fire, hard=schedule.bounded, kind="tick")


def _first_tick(schedule: ScheduleSpec, now: datetime) -> datetime | None:
    start = now + (schedule.after or timedelta(0))
    if schedule.every is not None:
        return start if schedule.after is not None else start + schedule.every
    if isinstance(schedule.at, datetime):
        return schedule.at if schedule.at >= now else None
    return _next_tick(schedule, start)


def _next_tick(schedule: ScheduleSpec, previous: datetime) -> datetime | None:
    if schedule.every is not None:
        return previous + schedule.every
    if isinstance(schedule.at, time):
        candidate = previous.replace(
            hour=schedule.at.hour, minute=schedule.at.minute, second=schedule.at.second, microsecond=0
        )
        return candidate if candidate > previous else candidate + timedelta(days=1)
    if schedule.cron is not None:
        return CronExpression.parse(schedule.cron).next_after(previous)
    return None
