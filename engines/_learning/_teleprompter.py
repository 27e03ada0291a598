"""A DSPy teleprompter as a workflow optimizer: compiled on each output group's own program.

A workflow is not a DSPy module, so a teleprompter cannot compile it whole. Instead, for every output
group that has demos from passing training runs, it compiles a `dspy.Predict` of that group's
signature, on a training set of those demos (inputs marked as inputs, the outputs of the passing runs
as labels), with the proposer engine's model and adapter. The compiled predictor's demos and
instructions become the group's learned state. This module imports DSPy; it loads only when a
teleprompter runs. Its calls are counted (not bounded: the teleprompter decides how many it makes).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import dspy
from pydantic import BaseModel

from flock_core import AgentSpec, Artifact, Demo, Engine, EvaluationRequest, Flock, LearnedState, Usage
from flock_core.exceptions import ConfigurationError

from .._dspy_engine import DSPyEngine
from .._guard import check_model_request
from .._inputs import demo_fields
from .._program import _usage  # pyright: ignore[reportPrivateUsage]
from .._recorder import CallRecorder
from .._settings import LOCAL_MODELS, prepare_environment, resolve_model
from .._shape import InputShape
from .._signature import FieldPlan, SignaturePlan, build_signature
from ._traces import GroupKey

__all__ = ["Compiled", "compile_groups"]

_log = logging.getLogger("engines.learning")
_LEAST_DEMOS = {"MIPROv2": 2}
"""Teleprompters that abort below some number of training examples; groups with fewer are skipped instead."""


@dataclass(frozen=True, slots=True)
class Compiled:
    """The learned state a teleprompter produced per output group, and what its calls cost."""

    states: dict[GroupKey, LearnedState]
    usage: Usage


def compile_groups(
    teleprompter: Any, flock: Flock, pool: Mapping[GroupKey, Sequence[Demo]], engine: Engine | None
) -> Compiled:
    """Compile every output group of `pool` that has demos (blocking: run it in a worker thread)."""
    if not callable(getattr(teleprompter, "compile", None)):
        raise ConfigurationError(f"optimizer {teleprompter!r} is neither a built-in name nor a dspy Teleprompter")
    runner = engine if engine is not None else DSPyEngine()
    if not isinstance(runner, DSPyEngine):
        raise ConfigurationError("a DSPy teleprompter runs on a DSPyEngine's model: pass proposer=DSPyEngine(...)")
    model = resolve_model("teleprompter", runner.settings.model, flock.model)
    check_model_request("teleprompter", model, runner.settings.lm.base_url, offline=model in LOCAL_MODELS)
    prepare_environment()
    lm, adapter = runner._dspy().runtime(model)  # pyright: ignore[reportPrivateUsage]
    recorder = CallRecorder()
    least = _LEAST_DEMOS.get(type(teleprompter).__name__, 1)
    settings: Any = dspy.settings
    states: dict[GroupKey, LearnedState] = {}
    with (
        settings.context(lm=lm, adapter=adapter, callbacks=[*settings.callbacks, recorder], disable_history=True),
        dspy.track_usage() as tracker,
    ):
        for key, demos in sorted(pool.items()):
            if len(demos) < least:
                _log.warning(
                    "%s skips %s group %d: it needs %d demos, the passing runs gave %d",
                    type(teleprompter).__name__,
                    key[0],
                    key[1],
                    least,
                    len(demos),
                )
                continue
            spec = flock.agents[key[0]]
            state = _compile_one(teleprompter, spec, key[1], demos, flock)
            if state is not None:
                states[key] = state
    return Compiled(states, _usage(tracker.get_total_tokens(), recorder.calls))


def _compile_one(
    teleprompter: Any, spec: AgentSpec, group_index: int, demos: Sequence[Demo], flock: Flock
) -> LearnedState | None:
    plan, signature = build_signature(spec, group_index, _shape(spec, demos[0], flock))
    inputs = [field.name for field in plan.inputs]
    examples = [dspy.Example(**fields) for d in demos if (fields := demo_fields(plan, d))]
    trainset = [example.with_inputs(*inputs) for example in examples]  # pyright: ignore[reportUnknownMemberType]
    if not trainset:
        return None
    compiled = cast(dspy.Module, teleprompter.compile(dspy.Predict(signature), trainset=trainset))
    predictor = compiled.predictors()[0]
    found = cast(list[Any], predictor.demos)  # pyright: ignore[reportUnknownMemberType]
    learned = tuple(demo for example in found if (demo := _as_demo(plan, example)) is not None)
    instructions = cast(str, cast(Any, predictor.signature).instructions)
    return LearnedState(learned, instructions if instructions != plan.instructions else None)


def _shape(spec: AgentSpec, demo: Demo, flock: Flock) -> InputShape:
    models = [flock.registry.resolve(name) for name, _ in demo.inputs]
    artifacts = tuple(Artifact(type=name, payload=payload, correlation_id="compile") for name, payload in demo.inputs)
    payloads = tuple(model.model_validate(payload) for model, (_, payload) in zip(models, demo.inputs, strict=True))
    request = EvaluationRequest(spec, spec.output_groups[0], 0, artifacts, payloads)
    return InputShape.of(request)


def _as_demo(plan: SignaturePlan, example: Any) -> Demo | None:
    """A DSPy demo (labelled or bootstrapped) back as a `Demo`; `None` if a field is missing or invalid."""
    sides: list[tuple[tuple[str, dict[str, Any]], ...]] = []
    for fields in (plan.inputs, plan.outputs):
        pairs: list[tuple[str, dict[str, Any]]] = []
        for field in fields:
            value = example.get(field.name) if hasattr(example, "get") else None
            payloads = _payloads(field, value)
            if payloads is None or field.type_name is None:
                return None
            pairs.extend((field.type_name, payload) for payload in payloads)
        sides.append(tuple(pairs))
    return Demo(inputs=sides[0], outputs=sides[1])


def _payloads(field: FieldPlan, value: Any) -> list[dict[str, Any]] | None:
    if value is None:
        return None
    items = cast(list[Any], value) if field.many and isinstance(value, list) else [value]
    try:
        return [_payload(field.model, item) for item in items]
    except ValueError:
        return None


def _payload(model: type[BaseModel], item: Any) -> dict[str, Any]:
    if isinstance(item, str):
        return model.model_validate_json(item).model_dump(mode="json")
    if isinstance(item, BaseModel):
        return model.model_validate(item.model_dump()).model_dump(mode="json")
    return model.model_validate(item).model_dump(mode="json")
