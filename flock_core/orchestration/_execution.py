"""Running work: one stored work item through its agent, with its lease, span, hooks, breaker and errors."""

from __future__ import annotations

import dataclasses
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

import anyio
from opentelemetry import trace
from opentelemetry.trace import INVALID_SPAN, Span

from .._clock import Clock
from .._trace_content import reading
from .._tracing import Attr, FlockTracer, current_trace_id, record_failure, record_outputs
from .._usage import NO_USAGE, Usage
from ..agents._activation import ActivationRunner, UsageMeter
from ..agents._context import ContextProvider, ContextRequest, provide_context
from ..agents._flow import read_visibility
from ..agents._spec import AgentSpec
from ..blackboard._approvals import ApprovalRequest
from ..blackboard._artifacts import Artifact, WorkflowError
from ..blackboard._store import BlackboardStore
from ..blackboard._work import Commit, WorkRecord
from ..blackboard.memory._store import InMemoryBlackboardStore
from ..exceptions import BudgetExceeded, CircuitBreakerTripped, ConfigurationError, RuntimeFlockError
from ._approval import ApprovalGate
from ._artifact_factory import ArtifactFactory
from ._budgets import Budgets
from ._events import ActivationFailed, ActivationFinished, ActivationStarted, EventBus, TokenRelay
from ._runtime import WorkItem
from ._settling import SETTLED_KEPT
from ._steps import Steps

__all__ = ["Executor", "ToolSource"]

_log = logging.getLogger("flock_core")

_LEASE = timedelta(minutes=5)


def _public(*read: Artifact) -> bool:
    """Whether everyone may see everything an activation read (then its spans may quote what it read)."""
    return read_visibility(read).kind == "public"


class ToolSource(Protocol):
    """Where agents' MCP tools come from (`flock_core.mcp.McpToolbox`)."""

    async def tools(self, servers: Mapping[str, Iterable[str] | None]) -> tuple[Callable[..., Any], ...]:
        """The tools of `servers` as async functions."""
        ...

    async def aclose(self) -> None:
        """Close every open session."""
        ...


class Executor:
    """Runs activations and turns their outcome into one commit: outputs, or a `WorkflowError`.

    Args:
        agents: the declared agents.
        store: leases work items and answers context queries.
        clock: the time source.
        worker_id: this process's identity for leases.
        runner: calls the agent's engine through its components and contract.
        artifacts: builds output and error artifacts.
        tracer: opens the activation spans.
        events: where run events go.
        context: the Flock's default context provider.
        max_attempts: starts of a work item before it is failed for good (crash recovery; an agent's
            retry policy may allow more).
        max_agent_iterations: the circuit breaker: activations of one agent per workflow (since the workflow
            last settled, see `forget`).
        step: stores one step with the work it completes, and routes the step's new artifacts.
        approvals: holds the outputs that need approval.
        defer: runs a work item again once the clock reaches the given time (a scheduled retry).
        budgets: the workflows' and the Flock's budgets, checked before each model call.
        stop_workflow: stops a workflow whose budget refused a call (its queued work is cancelled).
    """

    def __init__(
        self,
        *,
        agents: Mapping[str, AgentSpec],
        store: BlackboardStore,
        clock: Clock,
        worker_id: str,
        runner: ActivationRunner,
        artifacts: ArtifactFactory,
        tracer: FlockTracer,
        events: EventBus,
        context: ContextProvider,
        max_attempts: int,
        max_agent_iterations: int,
        steps: Steps,
        approvals: ApprovalGate,
        defer: Callable[[WorkItem, datetime], None],
        budgets: Budgets,
        stop_workflow: Callable[[str, str], Awaitable[object]],
    ) -> None:
        self._agents = agents
        self._approvals = approvals
        self._store = store
        # a plain in-memory store leases synchronously: one coroutine fewer per activation
        self._memory = (
            store
            if isinstance(store, InMemoryBlackboardStore) and type(store).lease is InMemoryBlackboardStore.lease
            else None
        )
        self._clock = clock
        self._worker_id = worker_id
        self._runner = runner
        self._artifacts = artifacts
        self._tracer = tracer
        self._events = events
        self._context = context
        self._max_attempts = max_attempts
        self._max_agent_iterations = max_agent_iterations
        self._steps = steps
        self._defer = defer
        self._budgets = budgets
        self._stop_workflow = stop_workflow
        self.tools: ToolSource | None = None
        self._usage: dict[str, Usage] = {}  # of workflows that may still run here
        self._settled_usage: OrderedDict[str, Usage] = OrderedDict()  # the latest settled ones (bounded)
        self._iterations: dict[str, dict[str, int]] = {}  # per workflow, activations per agent (the loop guard)
        self._tripped: set[tuple[str, str]] = set()
        self._initialized: set[str] = set()

    def usage(self, correlation_id: str) -> Usage:
        """What a workflow's model calls used in this process (of a settled one, while it is among the latest)."""
        return self._usage.get(correlation_id) or self._settled_usage.get(correlation_id) or NO_USAGE

    def workflows(self) -> set[str]:
        """The workflows this executor keeps state for (loop guard counts, usage)."""
        return {*self._iterations, *self._usage}

    def guarded(self) -> int:
        """Workflows with loop guard counts."""
        return len(self._iterations)

    def usage_kept(self) -> int:
        """Workflows whose usage is kept while they may still run."""
        return len(self._usage)

    def forget(self, settled: Collection[str]) -> None:
        """Drop the state of workflows that settled: nothing of them is queued, running or held.

        Their loop guard counts start again (an endless loop never settles, so it is still stopped), and
        their usage moves to a summary of the latest `SETTLED_KEPT` settled workflows, for their status.
        """
        for correlation_id in settled:
            self._iterations.pop(correlation_id, None)
            usage = self._usage.pop(correlation_id, None)
            if usage is not None:
                self._settled_usage[correlation_id] = usage
                self._settled_usage.move_to_end(correlation_id)
        while len(self._settled_usage) > SETTLED_KEPT:
            self._settled_usage.popitem(last=False)
        if self._tripped:
            self._tripped = {key for key in self._tripped if key[1] not in settled}

    async def run_item(self, item: WorkItem) -> None:
        """Run one stored work item; any failure becomes a `WorkflowError` artifact."""
        spec = self._agents.get(item.record.agent)  # `item.agent`, without its property call
        record: WorkRecord | None = item.record
        if not (item.record.status == "leased" and item.record.lease_owner == self._worker_id):
            until, memory = self._clock.now() + _LEASE, self._memory
            key, owner = item.record.key, self._worker_id
            record = (
                memory.lease_at_once(key, owner, until)
                if memory is not None
                else await self._store.lease(key, owner, until)
            )
            if record is None:  # finished meanwhile, or (a store that cannot hold the board) leased elsewhere
                _log.info("work item %s was not run here: it is finished or leased by another owner", item.record.key)
        if spec is None or record is None:
            return
        if record.attempts > max(self._max_attempts, spec.retry.attempts):
            error = RuntimeFlockError(f"gave up after {record.attempts - 1} attempts: {record.last_error or 'crash'}")
            await self._publish_error(spec, item, error)
            return
        attributes: dict[str, str | int] = {Attr.WORK_KEY: record.key, Attr.ATTEMPT: record.attempts}
        if record.tick is not None:
            attributes[Attr.TICK] = record.tick.number
        with self._tracer.activation(spec.name, record.correlation_id, item.inputs, attributes) as span:
            if not self._breaker_allows(spec, record.correlation_id):
                tripped = CircuitBreakerTripped(spec.name, self._max_agent_iterations)
                record_failure(span, tripped, agent=spec.name, disclose=True)  # the framework's own message
                await self._publish_error(spec, item, tripped)
                return
            try:
                await self._activate(spec, item, record, span)
            except Exception as exc:  # noqa: BLE001 - one activation's failure must not cancel the others' task group
                _log.error("activation of agent %r failed outside its engine call", spec.name, exc_info=exc)
                await self._fail(spec, dataclasses.replace(item, record=record), exc)

    async def _activate(self, spec: AgentSpec, item: WorkItem, record: WorkRecord, span: Span) -> None:
        if self._events.listening:
            input_ids = tuple(str(a.id) for a in item.inputs)
            self._events.emit(ActivationStarted(spec.name, record.key, record.correlation_id, input_ids))
        cid = record.correlation_id
        meter = self._free_meter(cid) if self._budgets.none else await self._meter(cid)
        context: tuple[Artifact, ...] = ()
        traced = span is not INVALID_SPAN  # an invalid span: nothing to record, no trace context for the outputs
        try:
            if spec.name not in self._initialized:
                await self._initialize(spec)
            if spec.mcp_servers:
                spec = await self._with_mcp_tools(spec)
            request = ContextRequest(self._store, spec, item.inputs, self._clock.now())
            context = await provide_context(spec.context or self._context, request)
            read = read_visibility((*item.inputs, *context))
            # decided once per activation: with no token subscriber, engines do not stream at all
            relay = (
                TokenRelay(self._events, spec.name, record.key, record.correlation_id, read)
                if self._events.streaming
                else None
            )
            with reading(read.kind == "public"):
                outputs = await self._runner.run(
                    spec,
                    item.inputs,
                    context,
                    meter,
                    tick=record.tick,
                    batched=record.batched,
                    on_token=relay,
                    read=read,
                )
            artifacts = self._artifacts.from_outputs(
                spec.name, outputs, item.inputs, record.correlation_id, traced=traced
            )
        except Exception as exc:  # noqa: BLE001 - any failing activation is recorded as a WorkflowError; others keep running
            await self._fail(spec, dataclasses.replace(item, record=record), exc, context)
            return
        finally:
            recording = traced and span.is_recording()
            if meter.total is not NO_USAGE or recording:  # else there is nothing to count or note
                await self._add_usage(record.correlation_id, meter, span)
        if recording:
            record_outputs(span, artifacts, meter.total.input_tokens, meter.total.output_tokens)
        held: tuple[ApprovalRequest, ...] = ()
        if spec.approval is not None or spec.group_approval:  # else `hold` holds nothing back
            artifacts, held = self._approvals.hold(spec, record.key, record.correlation_id, outputs, artifacts)
        stored = (*meter.trail, *artifacts) if meter.trail else tuple(artifacts)
        commit = Commit(artifacts=stored, complete=record.key, hold=held)
        committed = self._steps.at_once(commit, artifacts)
        if committed is None:
            committed = await self._steps.step(commit, artifacts)
        if committed:
            self._finished(spec, record, artifacts, held)
            for component in spec.components:
                try:
                    await component.on_post_publish(spec, artifacts)
                except Exception:  # noqa: BLE001 - the outputs are committed; a failing hook must not stop the run
                    _log.exception("on_post_publish hook of agent %r raised", spec.name)

    def _finished(
        self, spec: AgentSpec, record: WorkRecord, artifacts: Sequence[Artifact], held: tuple[ApprovalRequest, ...]
    ) -> None:
        """After an activation's outputs are committed: hold what awaits approval, tell the subscribers."""
        if held:
            self._approvals.held(held)
        if self._events.listening:
            output_ids = tuple(str(a.id) for a in artifacts)
            self._events.emit(ActivationFinished(spec.name, record.key, record.correlation_id, output_ids))

    async def invoke(self, spec: AgentSpec, source: Artifact, publish: bool) -> list[Artifact]:
        """Run `spec` on one artifact outside the queue (`Flock.invoke`) in an `invoke_agent` span; errors propagate.

        Its run events (and the tokens its engine streams, while a subscriber wants them) carry the work
        key `invoke:{source id}`, like those of a queued activation.
        """
        meter = await self._meter(source.correlation_id)
        key = f"invoke:{source.id}"
        if self._events.listening:
            self._events.emit(ActivationStarted(spec.name, key, source.correlation_id, (str(source.id),)))
        relay = TokenRelay(self._events, spec.name, key, source.correlation_id, source.visibility)
        with self._tracer.activation(spec.name, source.correlation_id, (source,), {}) as span:
            try:
                await self._initialize(spec)
                spec = await self._with_mcp_tools(spec)
                with reading(_public(source)):
                    on_token = relay if self._events.streaming else None
                    outputs = await self._runner.run(spec, (source,), (), meter, on_token=on_token)
            except BaseException as exc:
                record_failure(span, exc, agent=spec.name, disclose=_public(source))
                if isinstance(exc, Exception):  # a failure, not a cancellation: the caller gets the error too
                    failed = ActivationFailed(
                        spec.name, key, source.correlation_id, type(exc).__name__, str(exc), read=source.visibility
                    )
                    self._events.emit(failed)
                raise
            finally:
                await self._add_usage(source.correlation_id, meter, span)
            artifacts = self._artifacts.from_outputs(spec.name, outputs, (source,), source.correlation_id)
            record_outputs(span, artifacts, meter.total.input_tokens, meter.total.output_tokens)
        if publish:
            published, held = self._approvals.hold(spec, key, source.correlation_id, outputs, artifacts)
            commit = Commit(artifacts=(source, *meter.trail, *published), consumed=((spec.name, source.id),), hold=held)
            if await self._steps.step(commit, published):
                self._approvals.held(held)
        if self._events.listening:
            self._events.emit(
                ActivationFinished(spec.name, key, source.correlation_id, tuple(str(a.id) for a in artifacts))
            )
        return artifacts

    async def _meter(self, correlation_id: str) -> UsageMeter:
        accounts = await self._budgets.accounts(correlation_id)
        outer = self._budgets.outer(correlation_id)
        return UsageMeter(accounts=accounts, correlation_id=correlation_id, clock=self._clock, outer=outer)

    def _free_meter(self, correlation_id: str) -> UsageMeter:
        """`_meter` when no budget applies (`Budgets.none`): no accounts to look up."""
        outer = self._budgets.outer(correlation_id)
        return UsageMeter(correlation_id=correlation_id, clock=self._clock, outer=outer)

    async def _add_usage(self, correlation_id: str, meter: UsageMeter, span: Span) -> None:
        """Count what the activation spent, store it for its workflow's budget, and note both on its span."""
        if meter.total != NO_USAGE:  # a workflow without model calls (or before its first) keeps no entry
            earlier = self._usage.get(correlation_id) or self._settled_usage.pop(correlation_id, NO_USAGE)
            self._usage[correlation_id] = earlier + meter.total
        if meter.accounts and meter.total != NO_USAGE:
            with anyio.CancelScope(shield=True):  # a cancelled activation's calls were made: they are recorded
                await self._budgets.record(correlation_id, meter.total)
        if span.is_recording():
            span.set_attribute(Attr.USAGE_CALLS, meter.total.calls)
            span.set_attribute(Attr.USAGE_COST, meter.total.cost)
            now = self._clock.now()
            for account in meter.accounts:
                for limit, left in account.status(now).remaining.items():
                    span.set_attribute(f"{Attr.BUDGET_REMAINING}.{account.scope}.{limit}", left)

    async def _with_mcp_tools(self, spec: AgentSpec) -> AgentSpec:
        """`spec` with the tools of its MCP servers added (listings are cached by the toolbox)."""
        if not spec.mcp_servers:
            return spec
        if self.tools is None:
            raise ConfigurationError(f"agent {spec.name!r} uses MCP servers but none was added with flock.add_mcp()")
        tools = await self.tools.tools(dict(spec.mcp_servers))
        return dataclasses.replace(spec, tools=(*spec.tools, *tools))

    def _breaker_allows(self, spec: AgentSpec, correlation_id: str) -> bool:
        counts = self._iterations.get(correlation_id)
        if counts is None:
            counts = self._iterations[correlation_id] = {}
        counts[spec.name] = count = counts.get(spec.name, 0) + 1
        return count <= self._max_agent_iterations

    async def _initialize(self, spec: AgentSpec) -> None:
        """Run the agent's `on_initialize` hooks once."""
        if spec.name not in self._initialized:
            self._initialized.add(spec.name)
            for component in spec.components:
                await component.on_initialize(spec)

    async def terminate(self) -> None:
        """Run every agent's `on_terminate` hooks, then close the MCP sessions."""
        for spec in self._agents.values():
            for component in spec.components:
                await component.on_terminate(spec)
        if self.tools is not None:
            await self.tools.aclose()

    async def _fail(self, spec: AgentSpec, item: WorkItem, exc: Exception, context: Sequence[Artifact] = ()) -> None:
        _log.warning("agent %r failed on %d input(s): %s", spec.name, len(item.inputs), exc)
        read = read_visibility((*item.inputs, *context))
        record_failure(trace.get_current_span(), exc, agent=spec.name, disclose=read.kind == "public")
        self._events.emit(
            ActivationFailed(spec.name, item.record.key, item.correlation_id, type(exc).__name__, str(exc), read=read)
        )
        for component in spec.components:
            try:
                await component.on_error(spec, exc)
            except Exception:  # noqa: BLE001 - a failing error hook must not hide the original failure
                _log.exception("on_error hook of agent %r raised", spec.name)
        if not isinstance(exc, BudgetExceeded) and spec.retry.should_retry(exc, item.record.attempts):
            await self._retry_later(spec, item, exc)
            return
        # a budget stops its workflow once, however many of its activations run into the spent budget
        stopping = isinstance(exc, BudgetExceeded) and self._budgets.stop(item.correlation_id)
        await self._publish_error(spec, item, exc, context, report=stopping or not isinstance(exc, BudgetExceeded))
        if stopping:
            await self._stop_workflow(item.correlation_id, str(exc))

    async def _retry_later(self, spec: AgentSpec, item: WorkItem, exc: Exception) -> None:
        """Put the work item back as pending until its backoff has passed; the wait holds no slot."""
        delay = spec.retry.backoff.delay(item.record.attempts)
        when = self._clock.now() + delay
        span = trace.get_current_span()
        if span.is_recording():
            span.set_attribute(Attr.RETRY_AT, when.isoformat())
        _log.info(
            "agent %r: attempt %d of %d failed (%s); retrying in %.1f s",
            spec.name,
            item.record.attempts,
            spec.retry.attempts,
            type(exc).__name__,
            delay.total_seconds(),
        )
        commit = Commit(complete=item.record.key, outcome="retry", error=str(exc), retry_at=when)
        if await self._steps.step(commit, ()):
            pending = dataclasses.replace(
                item.record, status="pending", lease_owner=None, lease_until=None, last_error=str(exc), retry_at=when
            )
            self._defer(dataclasses.replace(item, record=pending), when)

    async def _publish_error(
        self, spec: AgentSpec, item: WorkItem, exc: Exception, context: Sequence[Artifact] = (), *, report: bool = True
    ) -> None:
        """Record the failure as a `WorkflowError` (if `report`), visible to whoever could see what was read."""
        inputs = item.inputs
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
                self._artifacts.from_object(
                    error,
                    visibility=read_visibility((*inputs, *context)),  # its message may quote what was read
                    correlation_id=item.correlation_id,
                    partition_key=inputs[0].partition_key if inputs else None,
                    produced_by=spec.name,
                    consumed_from=inputs,
                ),
            )
        commit = Commit(artifacts=artifacts, complete=item.record.key, outcome="failed", error=str(exc))
        await self._steps.step(commit, artifacts)
