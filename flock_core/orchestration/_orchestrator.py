"""The orchestrator behind `Flock`: wires the board strategy, routing, runtime and executor, and runs them.

Every step of a run is one atomic store commit (new artifacts, the work items they complete, the completion
of the producing work item), so a run on a durable store resumes after a crash without losing or
duplicating work.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from opentelemetry.trace import INVALID_SPAN
from pydantic import BaseModel

from .._budget import Budget
from .._clock import Clock
from .._ids import id_text, new_id
from .._tracing import FlockTracer
from ..agents._activation import ActivationRunner
from ..agents._builder import AgentBuilder
from ..agents._checks import check_declarations
from ..agents._context import ContextProvider
from ..agents._default_engine import load_default_engine
from ..agents._engine import Engine, Usage
from ..agents._semantic import Embedder
from ..agents._spec import AgentSpec
from ..blackboard._approvals import ApprovalOutcome, ApprovalRequest
from ..blackboard._artifacts import EXTERNAL_PRODUCER, Artifact, WorkflowError
from ..blackboard._leases import new_owner
from ..blackboard._registry import TypeRegistry
from ..blackboard._shared import shared_store
from ..blackboard._store import ArtifactQuery, BlackboardStore, ExclusiveBoard
from ..blackboard._visibility import AgentIdentity, Visibility
from ..blackboard._work import Commit, ExpiredJoin
from ..exceptions import ConfigurationError, DuplicateAgentError, RunTimeoutError, UnknownAgentError
from ._admission import Admission, WhenFull
from ._approval import ApprovalGate, Approver
from ._artifact_factory import ArtifactFactory
from ._board import Board, LocalBoard
from ._budgets import Budgets
from ._conditions import Condition, ConditionView
from ._control import WorkflowControl
from ._dead_letters import DeadLetters
from ._deferral import DeferredActivations
from ._events import EventBus
from ._execution import Executor, ToolSource
from ._resume import ResumeReport, compare_fingerprints, fingerprint
from ._router import SharedBoard
from ._routing import Routed, Routing
from ._runs import drive_until, drive_until_idle
from ._runtime import Runtime, WorkItem
from ._scheduler import Rejection
from ._schedules import Schedules
from ._semantic import SemanticIndex
from ._settling import Settling
from ._status import CorrelationStatus, StatusReader
from ._steps import Steps

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from opentelemetry.trace import Span

    from ..agents._learned import LearnedState

__all__ = ["Orchestrator"]

_log = logging.getLogger("flock_core")


class Orchestrator:
    """Owns the run-time state of one `Flock`; every method is one thing the `Flock` facade asks for.

    The board strategy (local or shared) is chosen here once, from the store; the parts below it get
    narrow collaborators, never the orchestrator.
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
        embedder: Embedder | None = None,
        max_agent_iterations: int,
        max_concurrency: int,
        max_attempts: int = 3,
        lease: timedelta = timedelta(seconds=30),
        tracer: FlockTracer | None = None,
        max_pending: int | None = None,
        when_full: WhenFull = "wait",
        budget: Budget | None = None,
    ) -> None:
        self.registry = registry
        self.store = store
        self.clock = clock
        self.worker_id = new_owner()
        self.events = EventBus()
        self.learned: dict[tuple[str, int], LearnedState] = {}
        self.expired_joins: list[ExpiredJoin] = []
        self._specs: dict[str, AgentSpec] = {}
        self._default_engine = engine
        self._tracer = tracer or FlockTracer()
        self._resume_report: ResumeReport | None = None
        self._declarations = 0  # bumped by every change to an agent's declaration
        self._checked: tuple[int, tuple[str, ...]] | None = None  # the declarations and servers last checked
        self._saved_fingerprints: dict[str, str] = {}
        self._prepared = -1  # the declarations the latest run started with (fingerprints saved, timers armed)
        self._artifacts = ArtifactFactory(registry, clock)
        self.runtime = Runtime(clock, max_concurrency, lambda name: self._specs[name].max_concurrency)
        self._routing = Routing(registry, clock, self.runtime, release=self._release, semantic=SemanticIndex(embedder))
        self.deferred = DeferredActivations(self._specs, registry, store, self._routing.rejections.append)
        self._schedules = Schedules(self._specs, clock, self.runtime, self._commit)
        self.board = self._open_board(store, lease)
        self._steps = Steps(self.board, self._routing, self.deferred, self.events, self._report_expired)
        self._dead_letters = DeadLetters(store, self.requeue)
        self._admission = Admission(max_pending, when_full, self.runtime, self._load, self._drive_until)
        self._control = WorkflowControl(store, self.runtime, self.events, self._tracer, self.board.readmit)
        self._approvals = ApprovalGate(
            store=store,
            clock=clock,
            artifacts=self._artifacts,
            tracer=self._tracer,
            events=self.events,
            step=self._steps.step,
        )
        self.budgets = Budgets(budget, clock, store, shared=isinstance(self.board, SharedBoard))
        self._executor = Executor(
            agents=self._specs,
            store=store,
            clock=clock,
            worker_id=self.worker_id,
            runner=ActivationRunner(registry, self._engine_for, model, self.learned),
            artifacts=self._artifacts,
            tracer=self._tracer,
            events=self.events,
            context=context,
            max_attempts=max_attempts,
            max_agent_iterations=max_agent_iterations,
            steps=self._steps,
            approvals=self._approvals,
            defer=self.board.defer,
            budgets=self.budgets,
            stop_workflow=lambda cid, reason: self._control.cancel(cid, reason, running=False),
        )
        local = isinstance(self.board, LocalBoard)  # a shared board's spans end when every process is done
        self._settling = Settling(
            store,
            (self.runtime.workflows, self._routing.waiting_workflows, self.deferred.workflows),
            keepers=(self._executor, self.budgets, self._routing),
            end_spans=self._tracer.settle if local else None,
            shared=not local,
        )

    def _open_board(self, store: BlackboardStore, lease: timedelta) -> Board:
        """The board strategy, chosen once: shared when the store asks for distributed mode, else local."""
        queue = shared_store(store)
        if queue is None:
            return LocalBoard(store, self._routing, self.runtime, self._specs, self.clock)
        return SharedBoard(
            queue,
            routing=self._routing,
            runtime=self.runtime,
            clock=self.clock,
            worker_id=self.worker_id,
            lease=lease,
            on_lead=self._schedules.arm,
            on_expired=self._report_expired,
        )

    @property
    def tracer(self) -> FlockTracer:
        """The spans of this Flock, on its tracer provider (servers open their request spans with it)."""
        return self._tracer

    @property
    def lease(self) -> timedelta | None:
        """How long this process's claims last on a shared board (`None` on a local one)."""
        return self.board.lease

    @property
    def max_concurrency(self) -> int:
        """Activations this process runs at once."""
        return self.runtime.max_concurrency

    # -- declarations --------------------------------------------------------------------------------

    @property
    def agents(self) -> Mapping[str, AgentSpec]:
        """The frozen declarations, by name (read-only)."""
        return MappingProxyType(self._specs)

    @property
    def rejections(self) -> deque[Rejection]:
        """The latest 1,000 artifacts a subscriber did not accept, with the reason."""
        return self._routing.rejections

    def declare(self, name: str) -> AgentBuilder:
        """A builder for a new agent; each change to it updates the declaration."""
        if name in self._specs:
            raise DuplicateAgentError(name)
        return AgentBuilder(name, self.registry, self._update_spec)

    def _update_spec(self, spec: AgentSpec) -> None:
        if isinstance(self.board, SharedBoard) and any(s.activation is not None for s in spec.subscriptions):
            raise ConfigurationError(
                f"agent {spec.name!r}: activation conditions (consumes(activation=...)) work on a local board, "
                "not yet on a shared store"
            )
        self._specs[spec.name] = spec
        self._declarations += 1
        self._routing.update_agent(spec)
        self.deferred.declared()

    def spec(self, agent: str) -> AgentSpec:
        """The declaration of `agent`; `UnknownAgentError` names the declared ones."""
        if agent not in self._specs:
            raise UnknownAgentError(agent, list(self._specs))
        return self._specs[agent]

    def _engine_for(self, spec: AgentSpec) -> Engine:
        """The agent's own engine, else the Flock's default (loaded on first use)."""
        if spec.engine is not None:
            return spec.engine
        if self._default_engine is None:
            self._default_engine = load_default_engine()
        return self._default_engine

    def use_tools(self, tools: ToolSource) -> None:
        """Where agents declared `with_mcps` get their tools."""
        self._executor.tools = tools

    def add_listener(self, listener: Callable[[Artifact], None]) -> Callable[[], None]:
        """Call `listener` with every stored artifact; returns a function that removes it."""
        self._steps.listeners.append(listener)
        return lambda: self._steps.listeners.remove(listener)

    # -- steps ---------------------------------------------------------------------------------------

    async def publish(
        self,
        obj: BaseModel | Mapping[str, Any],
        *,
        budget: Budget | None = None,
        visibility: Visibility | None = None,
        correlation_id: str | None = None,
        partition_key: str | None = None,
        tags: Iterable[str] | None = None,
        produced_by: str = EXTERNAL_PRODUCER,
    ) -> Artifact:
        """Validate and store an external artifact together with the work it completes, in a publish span.

        Without a `correlation_id`, the artifact starts a workflow named after the artifact's id. A
        `budget` becomes its workflow's budget once the payload is valid, before any of its work is stored.
        """
        if self._resume_report is None:
            await self.start()
        else:
            self._check_declarations()  # what `start` does once started, without awaiting it
        if self._admission.limit is not None:
            await self._admission.admit()
        artifact_id = new_id()
        correlation_id = correlation_id or id_text(artifact_id)
        with self._tracer.publish(correlation_id) as span:
            artifact = self._artifacts.from_object(
                obj,
                visibility=visibility,
                correlation_id=correlation_id,
                partition_key=partition_key,
                tags=tags,
                produced_by=produced_by,
                artifact_id=artifact_id,
                traced=span is not INVALID_SPAN,  # an invalid span: no trace context to give the artifact
            )
            if budget is not None:
                await self.budgets.set(correlation_id, budget)
            if span.is_recording():
                self._tracer.published(span, artifact)
            commit = Commit(artifacts=(artifact,))
            if self._steps.at_once(commit, commit.artifacts) is None:
                await self._steps.step(commit, commit.artifacts)
        return artifact

    async def invoke(self, agent: str, obj: BaseModel | Mapping[str, Any], publish: bool) -> list[Artifact]:
        """Run `agent` directly on `obj` outside the queue; errors propagate to the caller."""
        spec = self.spec(agent)
        source = self._artifacts.from_object(obj)
        spec.check_consumes(source.type)
        await self.start()
        return await self._executor.invoke(spec, source, publish)

    async def _commit(self, commit: Commit, routed: Routed) -> bool:
        """Store one step's routed work (a timer's, a flushed batch's) with `commit` (see `Steps.commit`)."""
        return await self._steps.commit(commit, routed)

    async def _load(self) -> int:
        """What `max_pending` bounds: work queued, running or retrying, and inputs held (see `_admission`)."""
        gates, joins, batches = self._routing.waiting()
        held = gates + joins + batches + self.deferred.waiting()
        local = self.runtime.pending() + self.runtime.timers("retry") + held
        return max(local, await self.board.backlog())

    async def _drive_until(self, room: Callable[[], Awaitable[bool]]) -> None:
        """Run the queued work here until `room()` holds or nothing is left (a publisher waiting for room)."""
        await self.runtime.drive(self, stop=room)

    async def _release(self, artifact: Artifact) -> None:
        """Route a delayed artifact that became visible, and store the work it completes."""
        await self._steps.step(Commit(), [artifact])

    def _report_expired(self, expired: Iterable[ExpiredJoin]) -> None:
        for record in expired:
            message = "join of agent %r key %s expired (%s); %d artifact(s) stay on the board"
            _log.warning(message, record.agent, record.key, record.reason, len(record.artifact_ids))
            self.expired_joins.append(record)

    # -- the runtime's host --------------------------------------------------------------------------

    async def run_item(self, item: WorkItem) -> None:
        """Run one stored work item; any failure becomes a `WorkflowError` artifact."""
        await self._executor.run_item(item)
        self._settling.finished()

    async def on_clock(self, now: datetime) -> None:
        """Expire joins, flush timed-out batches and decide timed-out approvals."""
        async with self.board.steps():
            routed = self._routing.expire_due(now)
            if routed.items or routed.expired:
                await self._commit(Commit(), routed)
        await self._approvals.expire(now)  # each decision is a step of its own
        if self._settling.due:  # forget settled workflows (see `_settling`), with no step meanwhile
            async with self.board.steps():
                await self._settling.sweep()

    def next_deadline(self) -> datetime | None:
        """The next join expiry, batch timeout or approval timeout."""
        deadlines = [d for d in (self._routing.next_deadline(), self._approvals.next_deadline()) if d is not None]
        return min(deadlines, default=None)

    async def on_idle(self) -> bool:
        """Flush partial batches that ask for it; report whether that queued work."""
        async with self.board.steps():
            routed = self._routing.flush_on_idle()
            if routed.items:
                await self._commit(Commit(), routed)
        if not routed.items and self._settling.stale:
            async with self.board.steps():
                await self._settling.sweep()
        if not routed.items and isinstance(self.board, LocalBoard):  # a shared board's end when every process is done
            self._tracer.settle(busy=lambda cid: self.runtime.timers("delayed", cid) > 0)
        return bool(routed.items)

    async def pull(self, capacity: int) -> None:
        """Bring in work from outside this process (a shared board routes and claims)."""
        await self.board.pull(capacity)

    async def settled(self) -> bool:
        """Whether the whole board is done (other processes included); then its workflows' spans end."""
        done = await self.board.settled()
        if done:
            self._tracer.settle()
        return done

    async def wait_external(self) -> None:
        """Wait for another process to change the board."""
        await self.board.wait_external()

    @property
    def poll_interval(self) -> float | None:
        """How often a busy process looks for outside work."""
        return self.board.poll_interval

    # -- runs ----------------------------------------------------------------------------------------

    async def start(self) -> ResumeReport:
        """Resume from the store once: pending work, partial gates/joins/batches, timers; compare declarations.

        Checks the declarations across agents first, every time (agents may be declared after the start).
        """
        self._check_declarations()
        if self._resume_report is None:
            self._resume_report = ResumeReport()
            try:
                self._resume_report = await self._resume()
            except BaseException:  # not started (e.g. `BoardInUseError`): the next call tries again
                self._resume_report = None
                raise
        return self._resume_report

    def _check_declarations(self) -> None:
        tools = self._executor.tools
        if tools is None and self._checked is not None and self._checked[0] == self._declarations:
            return  # the usual publish: no MCP servers, no declaration changed since the last check
        servers: Mapping[str, object] = getattr(tools, "servers", None) or {}
        checked = (self._declarations, tuple(servers))
        if checked != self._checked:  # every publish starts the Flock: check only what changed
            check_declarations(self._specs, checked[1])
            self._checked = checked

    async def _resume(self) -> ResumeReport:
        if isinstance(self.board, LocalBoard) and isinstance(self.store, ExclusiveBoard):
            await self.store.hold(self.worker_id)  # one run per local board: `BoardInUseError` if taken
        previous = await self.store.fingerprints()
        added, removed, changed = compare_fingerprints(previous, self._fingerprints()) if previous else ((), (), ())
        await self._save_fingerprints()
        async with self.board.steps():
            resumed = await self.board.resume()
            self.expired_joins.extend(resumed.expired_joins)
            if resumed.routed.items or resumed.routed.expired:
                await self._commit(Commit(), resumed.routed)
        await self._approvals.load()
        if resumed.timers is not None:
            self._schedules.arm(resumed.timers)
        report = ResumeReport(added, removed, changed, resumed.resumed, resumed.orphaned, resumed.skipped)
        if not report.unchanged or resumed.orphaned or resumed.skipped:
            _log.warning("resuming with changed declarations or work it cannot run now: %s", report)
        return report

    def _fingerprints(self) -> dict[str, str]:
        return {name: fingerprint(spec) for name, spec in self._specs.items()}

    async def _save_fingerprints(self) -> None:
        current = self._fingerprints()
        if current != self._saved_fingerprints:
            await self.store.save_fingerprints(current)
            self._saved_fingerprints = current

    async def _prepare_run(self) -> None:
        await self.start()
        await self._save_fingerprints()
        self._schedules.arm()
        self._prepared = self._declarations

    def idle(self) -> bool:
        """Whether a run would find nothing to do here now (never on a shared board: others' work is in the store)."""
        if not (self.runtime.idle and self._prepared == self._declarations and isinstance(self.board, LocalBoard)):
            return False
        held = any(self._routing.waiting()) or self.deferred.waiting() or self._settling.stale
        return not held and self.next_deadline() is None and not self._tracer.open_workflows

    async def run_until_idle(self, timeout: float | None) -> None:
        """Run until nothing is queued, running, delayed or bounded-timed; `RunTimeoutError` after `timeout` s.

        With unbounded timers and a timeout, the timers fire until the timeout, which ends the run normally.
        """
        await self._prepare_run()
        timers = any(s.schedule is not None and not s.schedule.bounded for s in self._specs.values())
        if not await drive_until_idle(self.runtime, self, self.clock, timeout, unbounded_timers=timers):
            raise RunTimeoutError(f"run_until_idle did not become idle within {timeout} s")

    async def run_until(self, condition: Condition, timeout: float | None, cancel_rest: bool = True) -> bool:
        """Run until `condition` holds (`True`); `False` when the board is idle with nothing scheduled and the
        condition still false, or when `timeout` passes first.

        Then, with `cancel_rest`, the workflows the condition names (else every unfinished one) are
        cancelled, also when `timeout` ends the run; not when the run itself fails or is cancelled (a
        crash or a shutdown must not cancel workflows durably).
        """
        await self._prepare_run()

        async def check(idle: bool) -> bool:
            return await condition.check(ConditionView(self.store, idle, self.registry))

        held = await drive_until(self.runtime, self, self.clock, check, timeout)
        if cancel_rest:
            for correlation_id in await self._control.rest(condition):
                await self.cancel(correlation_id, f"run_until({condition}) stopped")
        return held

    def workflow_span(self, name: str) -> AbstractContextManager[Span]:
        """A span grouping everything done inside it in one trace (Flock's `traced_run`)."""
        return self._tracer.workflow(name)

    async def run_worker(self, agents: frozenset[str] | None, concurrency: int | None) -> None:
        """Work on a shared board until cancelled, claiming `agents`' work (`None`: all)."""
        with self.board.serving(agents):
            if concurrency is not None:
                if concurrency < 1:
                    raise ConfigurationError(f"concurrency must be at least 1, got {concurrency}")
                self.runtime.max_concurrency = concurrency
            await self._prepare_run()
            await self.runtime.drive(self, keep_alive=True)

    async def drain(self) -> None:
        """Claim no more work, and return once nothing is queued or running in this process."""
        self.board.stop_claiming()
        await self.runtime.drained()

    async def requeue(self, key: str) -> bool:
        """Put a failed work item back in the queue; returns whether it was failed."""
        return await self.board.requeue(key)

    async def cancel(self, correlation_id: str, reason: str) -> int:
        """Cancel one workflow everywhere (rejecting its held outputs); returns the work items it cancelled."""
        cancelled = await self._control.cancel(correlation_id, reason)
        await self._approvals.withdraw(correlation_id, reason)
        return cancelled

    async def pause(self, correlation_id: str | None, paused: bool) -> None:
        """Pause or resume one workflow, or every workflow on the board (`None`)."""
        await self._control.pause(correlation_id, paused)

    async def approvals(self, approver: Approver | None, correlation_id: str | None) -> list[ApprovalRequest]:
        """Pending approval requests (with `approver`: only those it may decide)."""
        return await self._approvals.pending(approver, correlation_id)

    async def decide(
        self, approval_id: str, outcome: ApprovalOutcome, approver: Approver, reason: str | None
    ) -> tuple[Artifact, ...]:
        """Approve or reject held outputs; returns what was published."""
        await self.start()
        return await self._approvals.decide(approval_id, outcome, approver, reason)

    @property
    def dead_letters(self) -> DeadLetters:
        """The work items that failed for good: list and replay them."""
        return self._dead_letters

    async def status(self, correlation_id: str, visible_to: AgentIdentity | None = None) -> CorrelationStatus:
        """Where one workflow stands: state, counts, pending work and token usage so far.

        With `visible_to`, as that identity may see it (see `StatusReader`): a workflow it sees nothing of
        has the status of one that does not exist.
        """
        reader = StatusReader(visible_to, self.clock.now())
        every = (await self.store.query(ArtifactQuery(correlation_id=correlation_id))).items
        seen = [a for a in every if reader.sees(a)]
        whole = len(seen) == len(every)
        error_type = self.registry.name_of(WorkflowError)
        errors = sum(1 for a in seen if a.type == error_type)
        # the store's unfinished work includes what another process (or a skipped resume) holds
        stored = await self.store.work(("pending", "leased"), correlation_id=correlation_id)
        if visible_to is None:
            pending = max(self.runtime.pending(correlation_id), len(stored))
            delayed = self._routing.delayed(correlation_id)
        else:
            by_id = {a.id: a for a in every}
            pending = sum(1 for r in stored if reader.sees_all(by_id.get(i) for i in r.input_ids))
            delayed = sum(1 for a in every if not reader.sees(a) and reader.will_see(a))
        gates, joins, batches = self._routing.waiting(correlation_id, reader.sees)
        gates += self.deferred.waiting(correlation_id, reader.sees)  # inputs of activations held by their condition
        cancelled, paused = await self._control.state(correlation_id)
        held = await self.store.approvals("pending", correlation_id=correlation_id)
        approvals = sum(1 for request in held if reader.sees_all(request.artifacts))  # outputs it would see
        budget, flock_budget = await self.budgets.status(correlation_id)
        state = "active" if pending or delayed or joins or batches else ("failed" if errors else "completed")
        if approvals and state != "active":
            state = "awaiting_approval"
        if cancelled is not None:
            state = "cancelled"
        elif paused and state == "active":
            state = "paused"
        return CorrelationStatus(
            correlation_id=correlation_id,
            state=state,
            artifact_count=len(seen),
            error_count=errors,
            pending_activations=pending,
            waiting_gate_inputs=gates,
            waiting_join_inputs=joins,
            waiting_batch_inputs=batches,
            delayed_artifacts=delayed,
            usage=self._executor.usage(correlation_id) if whole else Usage(),
            cancel_reason=cancelled if whole else None,
            budget=budget if whole else None,
            flock_budget=flock_budget if whole else None,
            pending_approvals=approvals,
        )

    async def shutdown(self) -> None:
        """End open workflow spans, run every component's `on_terminate` hook, close MCP sessions and the store."""
        self._tracer.settle()
        await self._executor.terminate()
        await self.store.close()
