"""Flock's component style: `EngineComponent` and `UtilityComponent` with Flock's hook signatures.

Flock hands components `(agent, ctx, ...)` and wraps inputs and outputs in `EvalInputs`/`EvalResult`
envelopes of artifacts. Here they are adapters over the core's own protocols: an `EngineComponent` is
wrapped into an `Engine` by `with_engines()`, a `UtilityComponent` into an `AgentComponent` by
`with_utilities()`. The agent they receive is the frozen `AgentSpec` (`.name`, `.description`, ...).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel

from ..blackboard._artifacts import Artifact
from ..blackboard._registry import type_name_of
from ..exceptions import EngineError
from ._components import AgentComponent
from ._engine import EvaluationRequest, EvaluationResult
from ._spec import AgentSpec, OutputGroup

__all__ = [
    "ComponentContext",
    "EngineComponent",
    "EvalInputs",
    "EvalResult",
    "UtilityComponent",
    "as_agent_component",
    "as_engine",
]

_log = logging.getLogger("flock_core.activation")

M = TypeVar("M", bound=BaseModel)


def _artifact(obj: BaseModel, agent: Any) -> Artifact:
    """An envelope for an output; the core builds the real artifact (ids, lineage, visibility) on publish."""
    name = getattr(agent, "name", "engine")
    return Artifact(
        type=type_name_of(type(obj)), payload=obj.model_dump(mode="json"), produced_by=name, correlation_id=""
    )


def _envelopes(inputs: Sequence[Artifact], payloads: Sequence[BaseModel]) -> list[Artifact]:
    """The payloads as artifacts, keeping the inputs' ids, workflow and tags when they correspond."""
    envelopes = [_artifact(p, None) for p in payloads]
    if len(inputs) != len(payloads):
        return envelopes
    return [a.model_copy(update={"payload": e.payload}) for a, e in zip(inputs, envelopes, strict=True)]


@dataclass(slots=True)
class EvalInputs:
    """The input artifacts of one evaluation, and state shared by the activation's components."""

    artifacts: list[Artifact] = field(default_factory=list[Artifact])
    state: dict[str, Any] = field(default_factory=dict[str, Any])

    def first_as(self, model: type[M]) -> M | None:
        """The first input's payload as `model` (`None` without inputs)."""
        return model.model_validate(self.artifacts[0].payload) if self.artifacts else None

    def all_as(self, model: type[M]) -> list[M]:
        """Every input's payload as `model`."""
        return [model.model_validate(a.payload) for a in self.artifacts]


@dataclass(slots=True)
class EvalResult:
    """What a Flock-style engine returns: output artifacts (checked by the contract) and bookkeeping."""

    artifacts: list[Artifact] = field(default_factory=list[Artifact])
    state: dict[str, Any] = field(default_factory=dict[str, Any])
    metrics: dict[str, float] = field(default_factory=dict[str, float])
    logs: list[str] = field(default_factory=list[str])
    errors: list[str] = field(default_factory=list[str])

    @classmethod
    def from_object(cls, obj: BaseModel, *, agent: Any = None, **extra: Any) -> EvalResult:
        """A result with one output object (`state=`, `metrics=`, `errors=` as keywords)."""
        return cls.from_objects(obj, agent=agent, **extra)

    @classmethod
    def from_objects(cls, *objs: BaseModel, agent: Any = None, **extra: Any) -> EvalResult:
        """A result with several output objects (`state=`, `metrics=`, `errors=` as keywords)."""
        return cls([_artifact(o, agent) for o in objs], **{k: v for k, v in extra.items() if v is not None})

    @classmethod
    def empty(cls, **extra: Any) -> EvalResult:
        """A result with no outputs."""
        return cls([], **{k: v for k, v in extra.items() if v is not None})

    @classmethod
    def with_state(cls, state: dict[str, Any], **extra: Any) -> EvalResult:
        """A result with state only."""
        return cls([], state, **{k: v for k, v in extra.items() if v is not None})

    def objects(self, agent: AgentSpec, group: OutputGroup | None = None) -> list[BaseModel]:
        """The outputs as the agent's declared models (by type name); an undeclared type is an engine error."""
        groups = [group] if group is not None else agent.output_groups
        models = {name: model for g in groups for name, model in zip(g.types, g.models, strict=True)}
        unknown = sorted({a.type for a in self.artifacts} - models.keys())
        if unknown:
            raise EngineError(agent.name, f"returned artifacts of undeclared types {unknown}")
        return [models[a.type].model_validate(a.payload) for a in self.artifacts]


@dataclass(frozen=True, slots=True)
class ComponentContext:
    """Flock's `ctx`: the activation's workflow, its context artifacts (visibility-filtered) and shared state."""

    correlation_id: str | None = None
    task_id: str = ""
    artifacts: tuple[Artifact, ...] = ()
    state: dict[str, Any] = field(default_factory=dict[str, Any])
    is_batch: bool = False

    def get_variable(self, key: str, default: Any = None) -> Any:
        """A value from the shared state."""
        return self.state.get(key, default)


class EngineComponent:
    """Base of Flock-style engines: override `evaluate(agent, ctx, inputs, output_group)`.

    Pass an instance to `with_engines()`; it is adapted to the `Engine` protocol.
    """

    async def evaluate(
        self, agent: AgentSpec, ctx: ComponentContext, inputs: EvalInputs, output_group: OutputGroup
    ) -> EvalResult:
        """Produce the outputs of `output_group` from `inputs`."""
        raise NotImplementedError(f"{type(self).__name__} must implement evaluate(agent, ctx, inputs, output_group)")


@dataclass(frozen=True, slots=True)
class _ComponentEngine:
    """An `Engine` over an `EngineComponent`."""

    component: EngineComponent

    async def evaluate(self, request: EvaluationRequest) -> EvaluationResult:
        cid = request.inputs[0].correlation_id if request.inputs else None
        ctx = ComponentContext(cid, request.agent.name, request.context, {}, request.batched)
        inputs = EvalInputs(_envelopes(request.inputs, request.payloads))
        result = await self.component.evaluate(request.agent, ctx, inputs, request.group)
        if result.errors:
            _log.warning("engine of agent %r reported errors: %s", request.agent.name, result.errors)
        return EvaluationResult(outputs=result.objects(request.agent, request.group))


def as_engine(engine: Any) -> Any:
    """`engine`, with an `EngineComponent` adapted to the `Engine` protocol."""
    return _ComponentEngine(engine) if isinstance(engine, EngineComponent) else engine


class UtilityComponent:
    """Base of Flock-style utility components: hooks with Flock's signatures; override the ones you need.

    Pass instances to `with_utilities()`. They run in ascending `priority` order with the agent's other
    components; a hook that raises fails the activation (recorded as a `WorkflowError`).
    """

    priority: int = 0

    async def on_initialize(self, agent: AgentSpec, ctx: ComponentContext) -> None:
        """Before the agent's first activation in a run."""

    async def on_pre_consume(self, agent: AgentSpec, ctx: ComponentContext, inputs: list[Artifact]) -> list[Artifact]:
        """May filter or reorder the input artifacts."""
        return inputs

    async def on_pre_evaluate(self, agent: AgentSpec, ctx: ComponentContext, inputs: EvalInputs) -> EvalInputs:
        """May transform the inputs handed to the engine."""
        return inputs

    async def on_post_evaluate(
        self, agent: AgentSpec, ctx: ComponentContext, inputs: EvalInputs, result: EvalResult
    ) -> EvalResult:
        """May transform the engine's result before the contract checks it."""
        return result

    async def on_post_publish(self, agent: AgentSpec, ctx: ComponentContext, artifact: Artifact) -> None:
        """With each artifact the activation published."""

    async def on_error(self, agent: AgentSpec, ctx: ComponentContext, error: BaseException) -> None:
        """When the activation fails."""

    async def on_terminate(self, agent: AgentSpec, ctx: ComponentContext) -> None:
        """When the `Flock` shuts down."""


_activation: ContextVar[tuple[ComponentContext, tuple[Artifact, ...]]] = ContextVar("flock_activation")
"""The context and inputs of the activation whose hooks run in this task (set by `on_pre_consume`)."""


class _UtilityHooks(AgentComponent):
    """An `AgentComponent` calling a `UtilityComponent`'s Flock-style hooks."""

    def __init__(self, utility: UtilityComponent) -> None:
        self.utility = utility
        self.priority = utility.priority

    def _current(self) -> tuple[ComponentContext, tuple[Artifact, ...]]:
        return _activation.get((ComponentContext(), ()))

    async def on_initialize(self, agent: AgentSpec) -> None:
        await self.utility.on_initialize(agent, ComponentContext())

    async def on_pre_consume(self, agent: AgentSpec, inputs: Sequence[Artifact]) -> Sequence[Artifact]:
        ctx, previous = self._current()
        if not inputs or [a.id for a in previous] != [a.id for a in inputs]:  # a new activation in this task
            ctx = ComponentContext(inputs[0].correlation_id if inputs else None, agent.name)
        kept = await self.utility.on_pre_consume(agent, ctx, list(inputs))
        _activation.set((ctx, tuple(kept)))
        return kept

    async def on_pre_evaluate(self, agent: AgentSpec, payloads: Sequence[BaseModel]) -> Sequence[BaseModel]:
        ctx, inputs = self._current()
        changed = await self.utility.on_pre_evaluate(agent, ctx, EvalInputs(_envelopes(inputs, payloads), ctx.state))
        models = {type_name_of(type(p)): type(p) for p in payloads}
        unknown = sorted({a.type for a in changed.artifacts} - models.keys())
        if unknown:
            raise EngineError(agent.name, f"on_pre_evaluate returned inputs of unknown types {unknown}")
        return [models[a.type].model_validate(a.payload) for a in changed.artifacts]

    async def on_post_evaluate(self, agent: AgentSpec, outputs: Sequence[BaseModel]) -> Sequence[BaseModel]:
        ctx, inputs = self._current()
        result = EvalResult.from_objects(*outputs, agent=agent)
        changed = await self.utility.on_post_evaluate(agent, ctx, EvalInputs(list(inputs), ctx.state), result)
        return changed.objects(agent)

    async def on_post_publish(self, agent: AgentSpec, artifacts: Sequence[Artifact]) -> None:
        ctx = self._current()[0]
        for artifact in artifacts:
            await self.utility.on_post_publish(agent, ctx, artifact)

    async def on_error(self, agent: AgentSpec, error: BaseException) -> None:
        await self.utility.on_error(agent, self._current()[0], error)

    async def on_terminate(self, agent: AgentSpec) -> None:
        await self.utility.on_terminate(agent, ComponentContext())


def as_agent_component(component: Any) -> Any:
    """`component`, with a `UtilityComponent` adapted to the `AgentComponent` hooks."""
    return _UtilityHooks(component) if isinstance(component, UtilityComponent) else component
