"""The `Flock` facade: declare agents, publish artifacts, run workflows."""

from __future__ import annotations

import logging
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import MappingProxyType, TracebackType
from typing import Any, Self

import anyio
from pydantic import BaseModel

from ._activation import ActivationRunner, UsageMeter
from ._artifacts import Artifact, WorkflowError
from ._builder import AgentBuilder
from ._clock import Clock, SystemClock
from ._context import correlation_context
from ._default_engine import load_default_engine
from ._engine import Engine, Usage
from ._ids import new_id
from ._memory_store import InMemoryBlackboardStore
from ._payloads import to_payload
from ._registry import TypeRegistry, default_registry
from ._runtime import Runtime, WorkItem
from ._scheduler import Activation, Rejection, Scheduler
from ._spec import AgentSpec
from ._status import CorrelationStatus, RunResult
from ._store import ArtifactQuery, BlackboardStore
from ._visibility import PublicVisibility, Visibility, visible_from
from .exceptions import CircuitBreakerTripped, DuplicateAgentError, RunTimeoutError, UnknownAgentError

__all__ = ["Flock"]

_log = logging.getLogger("flock_core")


class Flock:
    """A blackboard and the agents that react to it.

    Args:
        model: the default model for LLM engines (for example `"openai/gpt-4.1-mini"` or `"offline"`).
        store: where artifacts live (default: a new in-memory store).
        engine: the engine for agents declared without `.with_engines()` (default: `engines.DSPyEngine`).
        max_agent_iterations: circuit breaker: activations of one agent per workflow before it is stopped.
        max_concurrency: activations running at once across all agents.
        context_limit: how many same-workflow artifacts an activation sees as context.
        clock: the time source (`VirtualClock` in tests).
    """

    def __init__(
        self,
        model: str | None = None,
        *,
        store: BlackboardStore | None = None,
        engine: Engine | None = None,
        max_agent_iterations: int = 1000,
        max_concurrency: int = 64,
        context_limit: int = 50,
        clock: Clock | None = None,
    ) -> None:
        self.model = model
        self.store: BlackboardStore = store if store is not None else InMemoryBlackboardStore()
        self.registry = TypeRegistry(default_registry)
        self.registry.register(WorkflowError)
        self.max_agent_iterations = max_agent_iterations
        self.context_limit = context_limit
        self.clock: Clock = clock or SystemClock()
        self.rejections: deque[Rejection] = deque(maxlen=1000)
        self._default_engine = engine
        self._specs: dict[str, AgentSpec] = {}
        self._scheduler = Scheduler(self.registry, on_reject=self.rejections.append)
        self._runtime = Runtime(self.clock, max_concurrency, lambda name: self._specs[name].max_concurrency)
        self._runner = ActivationRunner(self.registry, self._engine_for, model)
        self._iterations: Counter[tuple[str, str]] = Counter()
        self._tripped: set[tuple[str, str]] = set()
        self._usage: dict[str, Usage] = {}
        self._initialized: set[str] = set()
        self._listeners: list[Callable[[Artifact], None]] = []

    # -- declaration ---------------------------------------------------------------------------------

    def register_type(self, model: type[BaseModel], *, name: str | None = None) -> str:
        """Register a payload type with this Flock only; returns its blackboard name."""
        return self.registry.register(model, name=name)

    def agent(self, name: str) -> AgentBuilder:
        """Declare a new agent called `name` and return its builder."""
        if name in self._specs:
            raise DuplicateAgentError(name)
        return AgentBuilder(name, self.registry, self._update_spec)

    def _update_spec(self, spec: AgentSpec) -> None:
        self._specs[spec.name] = spec
        self._scheduler.update_agent(spec)

    @property
    def agents(self) -> Mapping[str, AgentSpec]:
        """The frozen declarations of every agent, by name."""
        return MappingProxyType(self._specs)

    def _spec_of(self, agent: str | AgentBuilder | AgentSpec) -> AgentSpec:
        name = agent if isinstance(agent, str) else agent.name
        if name not in self._specs:
            raise UnknownAgentError(name, list(self._specs))
        return self._specs[name]

    def _engine_for(self, spec: AgentSpec) -> Engine:
        if spec.engine is not None:
            return spec.engine
        if self._default_engine is None:
            self._default_engine = load_default_engine()
        return self._default_engine

    # -- publishing ----------------------------------------------------------------------------------

    def _artifact(
        self,
        obj: BaseModel | Mapping[str, Any],
        *,
        visibility: Visibility | None,
        correlation_id: str | None,
        partition_key: str | None,
        tags: Iterable[str] | None,
        produced_by: str = "external",
        consumed_from: Sequence[Artifact] = (),
    ) -> Artifact:
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

    async def publish(
        self,
        obj: BaseModel | Mapping[str, Any],
        *,
        visibility: Visibility | None = None,
        correlation_id: str | None = None,
        partition_key: str | None = None,
        tags: Iterable[str] | None = None,
    ) -> Artifact:
        """Validate `obj`, store it as an artifact, and queue the activations it completes.

        `obj` is a registered Pydantic model instance or `{"type": name, "payload": {...}}`. Without a
        `correlation_id`, the artifact starts a new workflow. Activations run in `run_until_idle()`.
        """
        artifact = self._artifact(
            obj, visibility=visibility, correlation_id=correlation_id, partition_key=partition_key, tags=tags
        )
        await self._append_and_route(artifact)
        return artifact

    async def publish_many(self, objs: Iterable[BaseModel | Mapping[str, Any]], **options: Any) -> list[Artifact]:
        """Publish several objects with the same options (see `publish`)."""
        return [await self.publish(obj, **options) for obj in objs]

    def add_listener(self, listener: Callable[[Artifact], None]) -> Callable[[], None]:
        """Call `listener` with every artifact this Flock stores; returns a function that removes it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    async def _append_and_route(self, artifact: Artifact) -> None:
        await self.store.append(artifact)
        for listener in self._listeners:
            listener(artifact)
        await self._route(artifact)

    async def _route(self, artifact: Artifact) -> None:
        now = self.clock.now()
        visible_at = visible_from(artifact.visibility, artifact.created_at)
        if visible_at > now:
            self._runtime.delay(artifact, visible_at)
            return
        for activation in self._scheduler.route(artifact, now):
            self._runtime.submit(WorkItem(activation, artifact.correlation_id))

    # -- running -------------------------------------------------------------------------------------

    async def run_until_idle(self, timeout: float | None = None) -> None:
        """Run activations until none is queued, running, or waiting for a delayed artifact.

        Raises:
            RunTimeoutError: `timeout` seconds passed first; unfinished activations are cancelled.
        """
        with anyio.move_on_after(timeout if timeout is not None else float("inf")) as scope:
            await self._runtime.drive(self._run_item, self._route)
        if scope.cancelled_caught:
            raise RunTimeoutError(f"run_until_idle did not become idle within {timeout} s")

    async def _run_item(self, item: WorkItem) -> None:
        activation = item.activation
        spec = self._specs[activation.agent]
        if not self._breaker_allows(spec, item.correlation_id):
            await self._publish_error(
                spec, activation.inputs, CircuitBreakerTripped(spec.name, self.max_agent_iterations)
            )
            return
        await self.store.record_consumption(spec.name, [a.id for a in activation.inputs])
        meter = UsageMeter()
        try:
            await self._initialize(spec)
            context = await correlation_context(self.store, spec, activation.inputs, self.clock, self.context_limit)
            outputs = await self._runner.run(spec, activation.inputs, context, meter, item.tick)
        except Exception as exc:  # noqa: BLE001 - any failing activation is recorded as a WorkflowError; others keep running
            await self._fail(spec, activation, exc)
            return
        finally:
            self._usage[item.correlation_id] = self._usage.get(item.correlation_id, Usage()) + meter.total
        published: list[Artifact] = []
        for output in outputs:
            artifact = self._artifact(
                output.payload,
                visibility=output.visibility,
                correlation_id=item.correlation_id,
                partition_key=activation.inputs[0].partition_key if activation.inputs else None,
                tags=None,
                produced_by=spec.name,
                consumed_from=activation.inputs,
            )
            await self._append_and_route(artifact)
            published.append(artifact)
        for component in spec.components:
            await component.on_post_publish(spec, published)

    def _breaker_allows(self, spec: AgentSpec, correlation_id: str) -> bool:
        key = (spec.name, correlation_id)
        self._iterations[key] += 1
        return self._iterations[key] <= self.max_agent_iterations

    async def _initialize(self, spec: AgentSpec) -> None:
        if spec.name not in self._initialized:
            self._initialized.add(spec.name)
            for component in spec.components:
                await component.on_initialize(spec)

    async def _fail(self, spec: AgentSpec, activation: Activation, exc: Exception) -> None:
        _log.warning("agent %r failed on %d input(s): %s", spec.name, len(activation.inputs), exc)
        for component in spec.components:
            try:
                await component.on_error(spec, exc)
            except Exception:  # noqa: BLE001 - a failing error hook must not hide the original failure
                _log.exception("on_error hook of agent %r raised", spec.name)
        await self._publish_error(spec, activation.inputs, exc)

    async def _publish_error(self, spec: AgentSpec, inputs: Sequence[Artifact], exc: Exception) -> None:
        key = (spec.name, inputs[0].correlation_id) if inputs else None
        if isinstance(exc, CircuitBreakerTripped):
            if key is None or key in self._tripped:
                return
            self._tripped.add(key)
            _log.warning("%s", exc)
        error = WorkflowError(
            agent=spec.name,
            error_type=type(exc).__name__,
            message=str(exc),
            input_ids=[str(a.id) for a in inputs],
        )
        artifact = self._artifact(
            error,
            visibility=inputs[0].visibility if inputs else None,
            correlation_id=inputs[0].correlation_id if inputs else None,
            partition_key=inputs[0].partition_key if inputs else None,
            tags=None,
            produced_by=spec.name,
            consumed_from=inputs,
        )
        await self._append_and_route(artifact)

    async def invoke(
        self, agent: str | AgentBuilder, obj: BaseModel | Mapping[str, Any], *, publish_outputs: bool = True
    ) -> list[Artifact]:
        """Run one agent directly on `obj` and return its output artifacts.

        Errors are raised to the caller. With `publish_outputs`, the input and the outputs are stored
        (with lineage) and the outputs are routed to subscribers; call `run_until_idle()` to process them.
        """
        spec = self._spec_of(agent)
        source = self._artifact(obj, visibility=None, correlation_id=None, partition_key=None, tags=None)
        meter = UsageMeter()
        await self._initialize(spec)
        outputs = await self._runner.run(spec, (source,), (), meter)
        self._usage[source.correlation_id] = self._usage.get(source.correlation_id, Usage()) + meter.total
        artifacts = [
            self._artifact(
                o.payload,
                visibility=o.visibility,
                correlation_id=source.correlation_id,
                partition_key=None,
                tags=None,
                produced_by=spec.name,
                consumed_from=(source,),
            )
            for o in outputs
        ]
        if publish_outputs:
            await self.store.append(source)
            await self.store.record_consumption(spec.name, [source.id])
            for artifact in artifacts:
                await self._append_and_route(artifact)
        return artifacts

    async def arun(self, *objs: BaseModel | Mapping[str, Any], timeout: float | None = None) -> RunResult:
        """Publish `objs` (one workflow), run until idle, and return every artifact of that workflow."""
        correlation_id = str(new_id())
        for obj in objs:
            await self.publish(obj, correlation_id=correlation_id)
        await self.run_until_idle(timeout=timeout)
        page = await self.store.query(ArtifactQuery(correlation_id=correlation_id))
        return RunResult(page.items, self.registry)

    def run(self, *objs: BaseModel | Mapping[str, Any], timeout: float | None = None) -> RunResult:
        """Synchronous `arun`, for scripts: do not call it from inside an event loop."""
        return anyio.run(lambda: self.arun(*objs, timeout=timeout))

    # -- status and lifecycle ------------------------------------------------------------------------

    async def get_correlation_status(self, correlation_id: str) -> CorrelationStatus:
        """Where one workflow stands: state, counts, pending work and token usage so far."""
        page = await self.store.query(ArtifactQuery(correlation_id=correlation_id))
        errors = sum(1 for a in page.items if a.type == self.registry.name_of(WorkflowError))
        pending = self._runtime.pending(correlation_id)
        delayed = self._runtime.delayed(correlation_id)
        state = "active" if pending or delayed else ("failed" if errors else "completed")
        return CorrelationStatus(
            correlation_id=correlation_id,
            state=state,
            artifact_count=page.total,
            error_count=errors,
            pending_activations=pending,
            waiting_gate_inputs=self._scheduler.pending_gate_inputs(correlation_id),
            delayed_artifacts=delayed,
            usage=self._usage.get(correlation_id, Usage()),
        )

    async def shutdown(self) -> None:
        """Run every component's `on_terminate` hook and close the store."""
        for spec in self._specs.values():
            for component in spec.components:
                await component.on_terminate(spec)
        await self.store.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.shutdown()
