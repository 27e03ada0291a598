"""The orchestrator behind `Flock`: routes artifacts, runs activations, commits each step, resumes."""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

from opentelemetry import trace
from opentelemetry.trace import Span
from pydantic import BaseModel

from .._clock import Clock
from .._ids import new_id
from .._tracing import Attr, FlockTracer, current_trace_id, inject_current, record_failure, record_outputs
from ..agents._activation import ActivationRunner, Output, UsageMeter
from ..agents._context import ContextProvider, ContextRequest, provide_context
from ..agents._default_engine import load_default_engine
from ..agents._engine import Engine, Usage
from ..agents._patterns import ScheduleSpec
from ..agents._spec import AgentSpec
from ..blackboard._artifacts import Artifact, WorkflowError
from ..blackboard._payloads import to_payload
from ..blackboard._registry import TypeRegistry
from ..blackboard._shared import shared_store
from ..blackboard._store import ArtifactQuery, BlackboardStore
from ..blackboard._visibility import PublicVisibility, Visibility, visible_from
from ..blackboard._work import Commit, ExpiredJoin, Tick, TimerState, WorkRecord, owner_alive, work_key, worker_identity
from ..exceptions import CircuitBreakerTripped, ConfigurationError, RuntimeFlockError
from ._deferral import DeferredActivations
from ._events import ActivationFailed, ActivationFinished, ActivationStarted, ArtifactPublished, EventBus
from ._resume import ResumeReport, compare_fingerprints, fingerprint
from ._runtime import Runtime, WorkItem
from ._scheduler import Activation, Rejection, Scheduler

if TYPE_CHECKING:
    from ..agents._learned import LearnedState
    from ..mcp import McpToolbox
    from ._router import SharedBoard

__all__ = ["Orchestrator"]

_log = logging.getLogger("flock_core")

_LEASE = timedelta(minutes=5)
Routed = tuple[list[WorkItem], list[ExpiredJoin]]


def _nothing() -> Routed:
    return [], []


class Orchestrator:
    """Owns the run-time state of one `Flock`; implements the runtime's host callbacks.

    Every step of a run is one atomic store commit (new artifacts, the work items they complete, the
    completion of the producing work item), so a run on a durable store resumes after a crash without
    losing or duplicating work.
    """

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
        max_attempts: int = 3,
        lease: timedelta = timedelta(seconds=30),
        tracer: FlockTracer | None = None,
    ) -> None:
        self.registry = registry
        self.store = store
        self.clock = clock
        self.context = context
        self.max_agent_iterations = max_agent_iterations
        self.max_attempts = max_attempts
        self.worker_id = worker_identity()
        self.specs: dict[str, AgentSpec] = {}
        self.rejections: deque[Rejection] = deque(maxlen=1000)
        self.expired_joins: list[ExpiredJoin] = []
        self.usage: dict[str, Usage] = {}
        self.listeners: list[Callable[[Artifact], None]] = []
        self.resume_report: ResumeReport | None = None
        self.tracer = tracer or FlockTracer()
        self.events = EventBus()
        self.scheduler = Scheduler(registry, on_reject=self.rejections.append)
        self.deferred = DeferredActivations(self.specs, registry, store, self.rejections.append)
        self.runtime = Runtime(clock, max_concurrency, lambda name: self.specs[name].max_concurrency)
        self._default_engine = engine
        queue = shared_store(store)
        self.shared: SharedBoard | None = None
        if queue is not None:
            from ._router import SharedBoard  # the router loads only for a shared store

            self.shared = SharedBoard(self, queue, lease)
        self.mcp: McpToolbox | None = None
        self.learned: dict[tuple[str, int], LearnedState] = {}
        self._runner = ActivationRunner(registry, self.engine_for, model, self.learned)
        self._iterations: Counter[tuple[str, str]] = Counter()
        self._tripped: set[tuple[str, str]] = set()
        self._initialized: set[str] = set()
        self._armed: set[str] = set()
        self._saved_fingerprints: dict[str, str] = {}

    def update_spec(self, spec: AgentSpec) -> None:
        """Record a new or changed declaration."""
        if self.shared is not None and any(s.activation is not None for s in spec.subscriptions):
            raise ConfigurationError(
                f"agent {spec.name!r}: activation conditions (consumes(activation=...)) work on a local board, "
                "not yet on a shared store"
            )
        self.specs[spec.name] = spec
        self.scheduler.update_agent(spec)

    def engine_for(self, spec: AgentSpec) -> Engine:
        """The agent's own engine, else the Flock's default (loaded on first use)."""
        if spec.engine is not None:
            return spec.engine
        if self._default_engine is None:
            self._default_engine = load_default_engine()
        return self._default_engine

    # -- artifacts and routing -----------------------------------------------------------------------

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
        return self._artifact(
            type_name,
            payload,
            visibility=visibility,
            correlation_id=correlation_id,
            partition_key=partition_key,
            tags=tags,
            produced_by=produced_by,
            consumed_from=consumed_from,
        )

    def _artifact(
        self,
        type_name: str,
        payload: dict[str, Any],
        *,
        visibility: Visibility | None,
        correlation_id: str | None,
        partition_key: str | None,
        tags: Iterable[str] | None,
        produced_by: str,
        consumed_from: Sequence[Artifact],
    ) -> Artifact:
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
            trace_context=inject_current(),
        )

    def _route(self, artifact: Artifact) -> Routed:
        """The work `artifact` completes now; a delayed artifact is routed again when it becomes visible."""
        now = self.clock.now()
        visible_at = visible_from(artifact.visibility, artifact.created_at)
        if visible_at > now:

            async def release() -> None:
                await self._commit_and_submit(Commit(), self._route(artifact))

            self.runtime.call_at(visible_at, release, hard=True, kind="delayed", correlation_id=artifact.correlation_id)
            return [], []
        ready, expired = self.scheduler.route(artifact, now)
        return [self._work_item(a) for a in ready], expired

    def route_all(self, artifacts: Iterable[Artifact]) -> Routed:
        items: list[WorkItem] = []
        expired: list[ExpiredJoin] = []
        for artifact in artifacts:
            more, gone = self._route(artifact)
            items.extend(more)
            expired.extend(gone)
        return items, expired

    def _work_item(self, activation: Activation, tick: Tick | None = None) -> WorkItem:
        cids = {a.correlation_id for a in activation.inputs}
        record = WorkRecord(
            key=work_key(activation.agent, [a.id for a in activation.inputs], tick),
            agent=activation.agent,
            subscription=activation.subscription,
            input_ids=tuple(a.id for a in activation.inputs),
            correlation_id=cids.pop() if len(cids) == 1 else str(new_id()),
            priority=activation.priority,
            batched=activation.batched,
            tick=tick,
        )
        return WorkItem(record, activation.inputs)

    async def _commit_and_submit(self, commit: Commit, routed: Routed) -> bool:
        items, expired = routed
        items, held = self.deferred.split(items)
        full = Commit(
            artifacts=commit.artifacts,
            enqueue=(*commit.enqueue, *(i.record for i in items)),
            complete=commit.complete,
            outcome=commit.outcome,
            error=commit.error,
            consumed=commit.consumed,
            timers=commit.timers,
            expired_joins=(*commit.expired_joins, *expired),
        )
        committed = await (self.shared.commit(full) if self.shared is not None else self.store.commit(full))
        if not committed:
            return False
        self.report_expired(expired)
        for artifact in commit.artifacts:
            for listener in self.listeners:
                listener(artifact)
            if self.events.listening:
                self.events.emit(ArtifactPublished(artifact))
        if self.shared is None:
            for item in items:
                self.runtime.submit(item)
            self.deferred.hold(held)
            if self.deferred.waiting() and (released := await self.deferred.release(self._workflows(commit))):
                await self._commit_and_submit(Commit(), (released, []))
        return True

    @staticmethod
    def _workflows(commit: Commit) -> set[str] | None:
        """The workflows a commit added artifacts to; `None` (all) for a commit without any (resume)."""
        return {a.correlation_id for a in commit.artifacts} if commit.artifacts else None

    def route_outputs(self, artifacts: Sequence[Artifact]) -> Routed:
        """Route new outputs now (local board); on a shared board the router routes them."""
        return _nothing() if self.shared is not None else self.route_all(artifacts)

    async def publish(self, obj: BaseModel | Mapping[str, Any], **options: Any) -> Artifact:
        """Validate and store an external artifact together with the work it completes, in a publish span."""
        with self.tracer.publish(options.get("correlation_id")) as span:
            artifact = self.make_artifact(obj, **options)
            if span.is_recording():
                span.update_name(f"publish {artifact.type}")
                span.set_attributes(
                    {
                        Attr.ARTIFACT_TYPE: artifact.type,
                        Attr.ARTIFACT_ID: str(artifact.id),
                        Attr.CONVERSATION: artifact.correlation_id,
                    }
                )
            routed = _nothing() if self.shared is not None else self._route(artifact)
            await self._commit_and_submit(Commit(artifacts=(artifact,)), routed)
        return artifact

    def report_expired(self, expired: Iterable[ExpiredJoin]) -> None:
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
        if ready or expired:
            await self._commit_and_submit(Commit(), ([self._work_item(a) for a in ready], expired))

    async def pull(self, capacity: int) -> None:
        """On a shared board: route if leading, and claim work for this process."""
        if self.shared is not None:
            await self.shared.pull(capacity)

    async def settled(self) -> bool:
        """On a shared board: whether every process is done."""
        return True if self.shared is None else await self.shared.settled()

    async def wait_external(self) -> None:
        """On a shared board: wait for another process to change it."""
        if self.shared is not None:
            await self.shared.wait_external()

    @property
    def poll_interval(self) -> float | None:
        """How often a busy process looks for shared work."""
        return None if self.shared is None else 0.05

    def next_deadline(self) -> datetime | None:
        """The next join expiry or batch timeout."""
        return self.scheduler.next_deadline()

    async def on_idle(self) -> bool:
        """Flush partial batches that ask for it; report whether that queued work."""
        ready = self.scheduler.flush_on_idle()
        if ready:
            await self._commit_and_submit(Commit(), ([self._work_item(a) for a in ready], []))
        return bool(ready)

    async def run_item(self, item: WorkItem) -> None:
        """Run one stored work item; any failure becomes a `WorkflowError` artifact."""
        spec = self.specs.get(item.agent)
        record: WorkRecord | None = item.record
        if not (item.record.status == "leased" and item.record.lease_owner == self.worker_id):
            record = await self.store.lease(item.record.key, self.worker_id, self.clock.now() + _LEASE)
        if spec is None or record is None:
            return
        if record.attempts > self.max_attempts:
            error = RuntimeFlockError(f"gave up after {record.attempts - 1} attempts: {record.last_error or 'crash'}")
            await self._publish_error(spec, item, error)
            return
        attributes: dict[str, str | int] = {Attr.WORK_KEY: record.key, Attr.ATTEMPT: record.attempts}
        if record.tick is not None:
            attributes[Attr.TICK] = record.tick.number
        with self.tracer.activation(spec.name, item.correlation_id, item.inputs, attributes) as span:
            if not self._breaker_allows(spec, item.correlation_id):
                await self._publish_error(spec, item, CircuitBreakerTripped(spec.name, self.max_agent_iterations))
                return
            await self._activate(spec, item, record, span)

    async def _activate(self, spec: AgentSpec, item: WorkItem, record: WorkRecord, span: Span) -> None:
        if self.events.listening:
            input_ids = tuple(str(a.id) for a in item.inputs)
            self.events.emit(ActivationStarted(spec.name, record.key, item.correlation_id, input_ids))
        meter = UsageMeter()
        try:
            await self.initialize(spec)
            spec = await self.with_mcp_tools(spec)
            request = ContextRequest(self.store, spec, item.inputs, self.clock.now())
            context = await provide_context(spec.context or self.context, request)
            outputs = await self._runner.run(
                spec, item.inputs, context, meter, tick=record.tick, batched=record.batched
            )
        except Exception as exc:  # noqa: BLE001 - any failing activation is recorded as a WorkflowError; others keep running
            await self._fail(spec, item, exc)
            return
        finally:
            self.usage[item.correlation_id] = self.usage.get(item.correlation_id, Usage()) + meter.total
        artifacts = self._output_artifacts(spec, outputs, item.inputs, item.correlation_id)
        record_outputs(span, artifacts, meter.total.input_tokens, meter.total.output_tokens)
        committed = await self._commit_and_submit(
            Commit(artifacts=tuple(artifacts), complete=record.key), self.route_outputs(artifacts)
        )
        if committed:
            if self.events.listening:
                output_ids = tuple(str(a.id) for a in artifacts)
                self.events.emit(ActivationFinished(spec.name, record.key, item.correlation_id, output_ids))
            for component in spec.components:
                await component.on_post_publish(spec, artifacts)

    async def evaluate_direct(self, spec: AgentSpec, source: Artifact, publish: bool) -> list[Artifact]:
        """Run `spec` on one artifact outside the queue (for `invoke`); errors propagate."""
        meter = UsageMeter()
        await self.initialize(spec)
        spec = await self.with_mcp_tools(spec)
        try:
            outputs = await self._runner.run(spec, (source,), (), meter)
        finally:
            self.usage[source.correlation_id] = self.usage.get(source.correlation_id, Usage()) + meter.total
        artifacts = self._output_artifacts(spec, outputs, (source,), source.correlation_id)
        if publish:
            commit = Commit(artifacts=(source, *artifacts), consumed=((spec.name, source.id),))
            await self._commit_and_submit(commit, self.route_outputs(artifacts))
        return artifacts

    def _output_artifacts(
        self, spec: AgentSpec, outputs: Sequence[Output], inputs: Sequence[Artifact], correlation_id: str
    ) -> list[Artifact]:
        """Artifacts for outputs, with the activation's lineage, workflow and partition key.

        The contract has validated the payloads already: they are only serialised here, not validated again.
        """
        partition_key = inputs[0].partition_key if inputs else None
        return [
            self._artifact(
                self.registry.name_of(type(output.payload)),
                output.payload.model_dump(mode="json"),
                visibility=output.visibility,
                correlation_id=correlation_id,
                partition_key=partition_key,
                tags=None,
                produced_by=spec.name,
                consumed_from=inputs,
            )
            for output in outputs
        ]

    async def with_mcp_tools(self, spec: AgentSpec) -> AgentSpec:
        """`spec` with the tools of its MCP servers added (listings are cached by the toolbox)."""
        if not spec.mcp_servers:
            return spec
        if self.mcp is None:
            raise ConfigurationError(f"agent {spec.name!r} uses MCP servers but none was added with flock.add_mcp()")
        tools = await self.mcp.tools(dict(spec.mcp_servers))
        return dataclasses.replace(spec, tools=(*spec.tools, *tools))

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

    async def _fail(self, spec: AgentSpec, item: WorkItem, exc: Exception) -> None:
        _log.warning("agent %r failed on %d input(s): %s", spec.name, len(item.inputs), exc)
        record_failure(trace.get_current_span(), exc)
        self.events.emit(
            ActivationFailed(spec.name, item.record.key, item.correlation_id, type(exc).__name__, str(exc))
        )
        for component in spec.components:
            try:
                await component.on_error(spec, exc)
            except Exception:  # noqa: BLE001 - a failing error hook must not hide the original failure
                _log.exception("on_error hook of agent %r raised", spec.name)
        await self._publish_error(spec, item, exc)

    async def _publish_error(self, spec: AgentSpec, item: WorkItem, exc: Exception) -> None:
        inputs = item.inputs
        report = True
        if isinstance(exc, CircuitBreakerTripped):
            key = (spec.name, item.correlation_id)
            report = key not in self._tripped
            self._tripped.add(key)
            if report:
                _log.warning("%s", exc)
        artifacts: tuple[Artifact, ...] = ()
        if report:
            error = WorkflowError(
                agent=spec.name,
                error_type=type(exc).__name__,
                message=str(exc),
                input_ids=[str(a.id) for a in inputs],
                trace_id=current_trace_id(),
            )
            artifacts = (
                self.make_artifact(
                    error,
                    visibility=inputs[0].visibility if inputs else None,
                    correlation_id=item.correlation_id,
                    partition_key=inputs[0].partition_key if inputs else None,
                    produced_by=spec.name,
                    consumed_from=inputs,
                ),
            )
        commit = Commit(artifacts=artifacts, complete=item.record.key, outcome="failed", error=str(exc))
        await self._commit_and_submit(commit, self.route_outputs(artifacts))

    @property
    def _fingerprints(self) -> dict[str, str]:
        return {name: fingerprint(spec) for name, spec in self.specs.items()}

    async def save_fingerprints(self) -> None:
        """Save the current declarations' fingerprints when they changed since the last save."""
        current = self._fingerprints
        if current != self._saved_fingerprints:
            await self.store.save_fingerprints(current)
            self._saved_fingerprints = current

    # -- timers and resume ---------------------------------------------------------------------------

    def arm_schedules(self, last: Mapping[str, TimerState] | None = None) -> None:
        """Start the timers of scheduled agents that are not running yet (continuing from `last` ticks)."""
        now = self.clock.now()
        for spec in self.specs.values():
            if spec.schedule is None or spec.name in self._armed:
                continue
            from ._timers import first_tick, next_tick  # timer arithmetic (and cron) loads only for timer agents

            self._armed.add(spec.name)
            previous = (last or {}).get(spec.name)
            if previous is None:
                first = first_tick(spec.schedule, now)
                if first is not None:
                    self._arm(spec.name, spec.schedule, 1, first)
            elif spec.schedule.max_repeats is None or previous.number < spec.schedule.max_repeats:
                following = next_tick(spec.schedule, previous.scheduled_at)
                if following is not None:
                    self._arm(spec.name, spec.schedule, previous.number + 1, following)

    def _arm(self, agent: str, schedule: ScheduleSpec, number: int, when: datetime) -> None:
        from ._timers import next_tick

        async def fire() -> None:
            tick = Tick(number, when)
            item = self._work_item(Activation(agent, -1, ()), tick)
            await self._commit_and_submit(Commit(timers=(TimerState(agent, number, when),)), ([item], []))
            if schedule.max_repeats is None or number < schedule.max_repeats:
                following = next_tick(schedule, when)
                if following is not None:
                    self._arm(agent, schedule, number + 1, following)

        self.runtime.call_at(when, fire, hard=schedule.bounded, kind="tick")

    async def start(self) -> ResumeReport:
        """Resume from the store: pending work, partial gates/joins/batches, timers; compare declarations.

        On a shared board only the declarations are compared: the router resumes routing when it takes
        the lead, and abandoned work is claimed again once its lease expires.
        """
        previous = await self.store.fingerprints()
        added, removed, changed = compare_fingerprints(previous, self._fingerprints) if previous else ((), (), ())
        await self.save_fingerprints()
        if self.shared is not None:
            return ResumeReport(added, removed, changed)
        self.expired_joins.extend(await self.store.expired_joins())
        seen = await self.store.consumed_pairs()
        seen |= {(e.agent, UUID(i)) for e in self.expired_joins for i in e.artifact_ids}
        self.scheduler.mark_seen(seen)
        resumed = orphaned = 0
        abandoned = [r.key for r in await self.store.work(("leased",)) if not owner_alive(r.lease_owner)]
        await self.store.release(abandoned)
        for record in await self.store.work(("pending", "leased")):
            if record.agent not in self.specs:
                orphaned += 1
                continue
            inputs = tuple(await self.store.get_many(record.input_ids))
            self.runtime.submit(WorkItem(record, inputs))
            resumed += 1
        page = await self.store.query(ArtifactQuery())
        await self._commit_and_submit(Commit(), self.route_all(page.items))
        self.arm_schedules({t.agent: t for t in await self.store.timer_states()})
        report = ResumeReport(added, removed, changed, resumed, orphaned)
        if not report.unchanged or orphaned:
            _log.warning("resuming with changed declarations: %s", report)
        return report
