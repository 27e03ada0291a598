"""The signature builder: from an agent declaration and an input shape to one DSPy signature per output group.

Building is two pure steps. `plan_signature` describes the fields and instructions as a frozen
`SignaturePlan` (snapshot-tested, no DSPy involved); `build_signature` turns a plan into a DSPy
signature class and caches it per agent declaration, output group, input shape and learned instructions.

Field naming (see `docs/engines.md`):

1. A field is named after the type it carries: `snake_case(type name)`, pluralized when the field is a
   list (several artifacts of one type in, a fan-out other than exactly one out).
2. A name used on both sides, or a reserved name (`RESERVED_NAMES`, or the Pydantic namespaces
   `model_dump*` / `model_validate*`), gets the prefix of its side: `input_` or `output_`.
3. Any name still taken, or still reserved, gets the first free numeric suffix `_2`, `_3`, ... in field
   order (inputs first, then outputs, each in declaration order). No field is ever dropped.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel

from flock_core import AgentSpec, FanOut

from ._inputs import ContextItem, PreviousAttempt
from ._naming import pluralize, snake_case
from ._shape import InputShape

if TYPE_CHECKING:
    import dspy

__all__ = ["RESERVED_NAMES", "FieldPlan", "FieldRole", "SignaturePlan", "build_signature", "plan_signature"]

FieldRole = Literal["artifact", "context", "feedback"]

RESERVED_NAMES: frozenset[str] = frozenset(
    {
        # Attributes of dspy.Signature (a Pydantic model class) and of its metaclass.
        *("append", "append_instructions", "construct", "copy", "delete", "dict", "dump_state", "equals"),
        *("fields", "from_orm", "input_fields", "insert", "instructions", "json", "load_state"),
        *("output_fields", "parse_file", "parse_obj", "parse_raw", "prepend", "schema", "schema_json"),
        *("signature", "update_forward_refs", "validate", "with_instructions", "with_updated_fields"),
        *("model_computed_fields", "model_config", "model_construct", "model_copy", "model_extra"),
        *("model_fields", "model_fields_set", "model_json_schema", "model_parametrized_name"),
        *("model_post_init", "model_rebuild"),
        # Keyword arguments that dspy.Predict / dspy.ReAct take for themselves.
        *("config", "demos", "lm", "max_iters", "new_signature"),
        # Fields that DSPy programs and adapters add: ChainOfThought, ReAct, ChatAdapter's end marker.
        *("completed", "next_thought", "next_tool_args", "next_tool_name", "reasoning", "trajectory"),
        # The builder's own extra input fields.
        *("context", "previous_attempt"),
    }
)
_PROTECTED_PREFIXES = ("model_dump", "model_validate")
_CONTEXT_NAME = "context"
_FEEDBACK_NAME = "previous_attempt"
_REPAIR_INSTRUCTIONS = (
    "Your previous answer was rejected.\n"
    "`previous_attempt` holds what it produced and every error found in it: answer again, fixing each error."
)


@dataclass(frozen=True, slots=True)
class FieldPlan:
    """One field of a planned signature.

    Attributes:
        name: the field name the model sees.
        annotation: the Python type of the field (`Report`, `list[Report]`, `list[ContextItem]`, ...).
        description: what the model reads about the field.
        role: `"artifact"` for a declared type, `"context"` or `"feedback"` for the builder's extra inputs.
        type_name: the registered type name an artifact field carries (`None` for the extra inputs).
        model: the Pydantic model of one item of the field.
        many: whether the field is a list.
    """

    name: str
    annotation: Any
    description: str
    role: FieldRole
    type_name: str | None
    model: type[BaseModel]
    many: bool

    def describe(self) -> str:
        """`name: Type = description`, the one-line form used in snapshots and docs."""
        shown = f"list[{self.model.__name__}]" if self.many else self.model.__name__
        return f"{self.name}: {shown} = {self.description!r}"


@dataclass(frozen=True, slots=True)
class SignaturePlan:
    """A DSPy signature described as plain data: instructions and typed fields, in order."""

    agent: str
    group_index: int
    instructions: str
    inputs: tuple[FieldPlan, ...]
    outputs: tuple[FieldPlan, ...]

    def describe(self) -> dict[str, Any]:
        """The whole plan as nested builtins, for snapshots and debugging."""
        return {
            "instructions": self.instructions,
            "inputs": [field.describe() for field in self.inputs],
            "outputs": [field.describe() for field in self.outputs],
        }


@dataclass(frozen=True, slots=True)
class _Want:
    """A field before naming: what it carries and how it would like to be called."""

    side: Literal["input", "output"]
    stem: str
    annotation: Any
    description: str
    role: FieldRole
    type_name: str | None
    model: type[BaseModel]
    many: bool


@dataclass(frozen=True, slots=True)
class _PlanKey:
    """Everything a plan depends on; hashable, so it is the cache key of `build_signature`."""

    agent: str
    description: str | None  # the agent's description, or the learned instructions that replace it
    group_index: int
    types: tuple[str, ...]
    models: tuple[type[BaseModel], ...]
    fan_out: FanOut
    group_description: str | None
    shape: InputShape


def plan_signature(
    agent: AgentSpec, group_index: int, shape: InputShape, *, instructions: str | None = None
) -> SignaturePlan:
    """Plan the signature of output group `group_index` of `agent` for inputs of `shape`. Pure.

    `instructions` (learned ones, see `flock_core.LearnedState`) replace the agent's description.

    >>> from pydantic import BaseModel
    >>> from flock_core import AgentSpec, OutputGroup
    >>> from engines import InputShape, InputSlot
    >>> class Topic(BaseModel):
    ...     name: str
    >>> class Idea(BaseModel):
    ...     text: str
    >>> spec = AgentSpec("brainstorm", "Suggest ideas.", output_groups=(OutputGroup(("Idea",), (Idea,)),))
    >>> plan_signature(spec, 0, InputShape((InputSlot("Topic", Topic),))).describe()["outputs"]
    ["idea: Idea = 'One Idea artifact.'"]
    """
    return _plan(_key(agent, group_index, shape, instructions))


def build_signature(
    agent: AgentSpec, group_index: int, shape: InputShape, *, instructions: str | None = None
) -> tuple[SignaturePlan, type[dspy.Signature]]:
    """The plan and its DSPy signature class, cached per (agent declaration, group, input shape, instructions)."""
    return _build(_key(agent, group_index, shape, instructions))


def _key(agent: AgentSpec, group_index: int, shape: InputShape, instructions: str | None) -> _PlanKey:
    group = agent.output_groups[group_index]
    return _PlanKey(
        agent.name,
        agent.description if instructions is None else instructions,
        group_index,
        group.types,
        group.models,
        group.fan_out,
        group.description,
        shape,
    )


@functools.lru_cache(maxsize=512)
def _build(key: _PlanKey) -> tuple[SignaturePlan, type[dspy.Signature]]:
    import dspy

    plan = _plan(key)
    fields: dict[str, Any] = {}
    for field in plan.inputs:
        fields[field.name] = (field.annotation, dspy.InputField(desc=field.description))  # pyright: ignore[reportUnknownMemberType]
    for field in plan.outputs:
        fields[field.name] = (field.annotation, dspy.OutputField(desc=field.description))  # pyright: ignore[reportUnknownMemberType]
    name = "".join(part.capitalize() for part in snake_case(plan.agent).split("_")) + f"Group{plan.group_index}"
    return plan, dspy.make_signature(fields, plan.instructions, signature_name=name)


def _plan(key: _PlanKey) -> SignaturePlan:
    wants = [*_input_wants(key.shape), *_output_wants(key)]
    named = _name_fields(wants)
    inputs = tuple(plan for want, plan in zip(wants, named, strict=True) if want.side == "input")
    outputs = tuple(plan for want, plan in zip(wants, named, strict=True) if want.side == "output")
    return SignaturePlan(key.agent, key.group_index, _instructions(key, inputs, outputs), inputs, outputs)


def _input_wants(shape: InputShape) -> Iterator[_Want]:
    for slot in shape.slots:
        many = slot.count > 1 or shape.batched
        if many:
            what = f"Every {slot.type_name} input artifact ({slot.count} in total)"
        else:
            what = f"The {slot.type_name} input artifact"
        description = _with_doc(f"{what}.", slot.model)
        annotation = list[slot.model] if many else slot.model
        yield _Want(
            "input", _stem(slot.type_name, many), annotation, description, "artifact", slot.type_name, slot.model, many
        )
    if shape.has_context:
        description = "Other blackboard artifacts that may help (type, producer, data)."
        yield _Want("input", _CONTEXT_NAME, list[ContextItem], description, "context", None, ContextItem, True)
    if shape.repair:
        description = "Your previous, rejected answer and the errors to fix."
        yield _Want("input", _FEEDBACK_NAME, PreviousAttempt, description, "feedback", None, PreviousAttempt, False)


def _output_wants(key: _PlanKey) -> Iterator[_Want]:
    many = not (key.fan_out.exact and key.fan_out.low == 1)
    for type_name, model in zip(key.types, key.models, strict=True):
        what = f"A list of {key.fan_out.describe()} {type_name} artifacts" if many else f"One {type_name} artifact"
        description = f"{what}. {key.group_description}" if key.group_description else f"{what}."
        annotation = list[model] if many else model
        yield _Want("output", _stem(type_name, many), annotation, description, "artifact", type_name, model, many)


def _stem(type_name: str, many: bool) -> str:
    word = snake_case(type_name)
    return pluralize(word) if many else word


def _with_doc(description: str, model: type[BaseModel]) -> str:
    doc = model.__dict__.get("__doc__")
    if not isinstance(doc, str) or not doc.strip():
        return description
    return f"{description} {doc.strip().split(chr(10) * 2, 1)[0].strip()}"


def _is_reserved(name: str) -> bool:
    return name in RESERVED_NAMES or name.startswith(_PROTECTED_PREFIXES)


def _name_fields(wants: list[_Want]) -> list[FieldPlan]:
    sides = {side: {w.stem for w in wants if w.side == side and w.role == "artifact"} for side in ("input", "output")}
    both = sides["input"] & sides["output"]
    taken: set[str] = {w.stem for w in wants if w.role != "artifact"}
    plans: list[FieldPlan] = []
    for want in wants:
        name = want.stem
        if want.role == "artifact":
            if name in both or _is_reserved(name):
                name = f"{want.side}_{name}"
            name = _claim(name, taken)
        taken.add(name)
        plans.append(
            FieldPlan(name, want.annotation, want.description, want.role, want.type_name, want.model, want.many)
        )
    return plans


def _claim(name: str, taken: Iterable[str]) -> str:
    used = set(taken)
    candidate, suffix = name, 1
    while candidate in used or _is_reserved(candidate):
        suffix += 1
        candidate = f"{name}_{suffix}"
    return candidate


def _instructions(key: _PlanKey, inputs: tuple[FieldPlan, ...], outputs: tuple[FieldPlan, ...]) -> str:
    if key.description and key.description.strip():
        text = key.description.strip()
    else:
        given = ", ".join(f"`{f.name}`" for f in inputs if f.role == "artifact") or "nothing"
        produced = ", ".join(f"`{f.name}`" for f in outputs)
        text = f"You are the agent `{key.agent}`. Given {given}, produce {produced}."
    if key.shape.repair:
        text = f"{text}\n\n{_REPAIR_INSTRUCTIONS}"
    return text
