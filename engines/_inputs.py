"""What the model is given besides the triggering artifacts: context records, repair feedback, demos.

These are the Pydantic types of the two extra input fields the signature builder may add:
`context: list[ContextItem]` and `previous_attempt: PreviousAttempt`. `signature_inputs` turns an
`EvaluationRequest` into the keyword arguments of the DSPy program; `demo_fields` turns a learned
`Demo` into the field values of one worked example for the same signature.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from flock_core import Artifact, Demo, EvaluationRequest, type_name_of
from flock_core.exceptions import ContractViolation

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ._signature import FieldPlan, SignaturePlan

__all__ = ["ContextItem", "PreviousAttempt", "PreviousOutput", "demo_fields", "signature_inputs"]


class ContextItem(BaseModel):
    """One artifact on the blackboard that the agent may use as background."""

    model_config = ConfigDict(frozen=True)

    type: str = Field(description="The registered type name of the artifact.")
    producer: str = Field(description='The agent that produced it, or "external".')
    payload: dict[str, Any] = Field(description="The artifact's data.")

    @classmethod
    def of(cls, artifact: Artifact) -> ContextItem:
        """The context record of `artifact` (its id, tags and timestamps are left out of the prompt).

        The artifact's fields were validated when it was stored: they are not validated (and copied) again.
        This is what `model_construct` makes, without its per-field loop (a prompt may carry 50 of them).

        >>> from flock_core import Artifact
        >>> item = ContextItem.of(Artifact(type="Note", payload={"n": 1}, correlation_id="c"))
        >>> item == ContextItem.model_construct(type="Note", producer="external", payload={"n": 1})
        True
        """
        item = cls.__new__(cls)
        _set(item, "__dict__", {"type": artifact.type, "producer": artifact.produced_by, "payload": artifact.payload})
        _set(item, "__pydantic_fields_set__", _CONTEXT_FIELDS)
        _set(item, "__pydantic_extra__", None)
        _set(item, "__pydantic_private__", None)
        return item


_set = object.__setattr__
_CONTEXT_FIELDS = {"type", "producer", "payload"}  # shared, as `build_artifact` shares its set (copies make their own)


class PreviousOutput(BaseModel):
    """One output of a rejected answer."""

    model_config = ConfigDict(frozen=True)

    type: str = Field(description="The type name the output was published as.")
    payload: dict[str, Any] = Field(description="The output's data.")


class PreviousAttempt(BaseModel):
    """A rejected answer and the exact reasons it was rejected."""

    model_config = ConfigDict(frozen=True)

    outputs: list[PreviousOutput] = Field(description="What the previous answer produced (empty if unreadable).")
    problem: str = Field(description="What was expected and what was received.")
    errors: list[str] = Field(description="Every individual error to fix.")

    @classmethod
    def of(cls, outputs: tuple[BaseModel, ...], error: ContractViolation | None) -> PreviousAttempt:
        """The feedback record for a repair attempt.

        >>> from flock_core.exceptions import ContractViolation
        >>> error = ContractViolation("a", expected="exactly 2 Idea", got="1 x Idea", errors=["Idea: got 1"])
        >>> PreviousAttempt.of((), error).problem
        'expected exactly 2 Idea, got 1 x Idea'
        """
        records = [
            PreviousOutput(type=type_name_of(type(output)), payload=output.model_dump(mode="json"))
            for output in outputs
        ]
        if error is None:
            return cls(outputs=records, problem="the previous answer was rejected", errors=[])
        return cls(outputs=records, problem=f"expected {error.expected}, got {error.got}", errors=list(error.errors))


def signature_inputs(plan: SignaturePlan, request: EvaluationRequest) -> dict[str, Any]:
    """The keyword arguments for the DSPy program: every input field of `plan` filled from `request`.

    Artifact fields receive the validated payloads of their type in arrival order (a list field gets
    every one of them); `context` gets one `ContextItem` per context artifact; `previous_attempt` gets
    the rejected outputs and the contract violation of the previous attempt.
    """
    values: dict[str, Any] = {}
    for field in plan.inputs:
        if field.role == "context":
            values[field.name] = [ContextItem.of(artifact) for artifact in request.context]
        elif field.role == "feedback":
            values[field.name] = PreviousAttempt.of(request.previous_outputs, request.previous_error)
        else:
            payloads = [
                payload
                for artifact, payload in zip(request.inputs, request.payloads, strict=True)
                if artifact.type == field.type_name
            ]
            values[field.name] = payloads if field.many else payloads[0]
    return values


def demo_fields(plan: SignaturePlan, demo: Demo) -> dict[str, Any] | None:
    """The field values of `demo` as a worked example of `plan`, or `None` when it does not fit the plan.

    Every artifact field (inputs and outputs) gets the demo's payloads of its type, validated as the
    field's model: a list field gets all of them, a single field the first. The `context` and
    `previous_attempt` fields are left out (the demo did not record them), so adapters show the demo
    as one with some fields not supplied. A demo that lacks a type the plan needs, or whose payload no
    longer validates (the declaration changed), does not fit.
    """
    values: dict[str, Any] = {}
    for fields, pairs in ((plan.inputs, demo.inputs), (plan.outputs, demo.outputs)):
        for field in fields:
            if field.role != "artifact":
                continue
            value = _field_value(field, [payload for name, payload in pairs if name == field.type_name])
            if value is None:
                return None
            values[field.name] = value
    return values


def _field_value(field: FieldPlan, payloads: Sequence[dict[str, Any]]) -> Any:
    if not payloads:
        return None
    try:
        models = [field.model.model_validate(payload) for payload in payloads]
    except ValidationError:
        return None
    return models if field.many else models[0]
