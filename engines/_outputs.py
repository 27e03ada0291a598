"""From a DSPy prediction to the engine's outputs, and from a reply that does not parse to a contract violation."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from pydantic import BaseModel, ValidationError

from flock_core.exceptions import ContractViolation

if TYPE_CHECKING:
    import dspy

    from flock_core import Usage

    from ._signature import SignaturePlan

__all__ = ["collect_outputs", "parse_violation"]

_EXCERPT = 300


def collect_outputs(agent: str, plan: SignaturePlan, prediction: dspy.Prediction) -> list[BaseModel]:
    """Every output model of `prediction`, field by field in declared order, every item of list fields.

    Counts are not checked here: the core's contract checks them for every engine alike.
    """
    outputs: list[BaseModel] = []
    for field in plan.outputs:
        value: Any = getattr(prediction, field.name, None)
        if field.many and not isinstance(value, list):
            raise ContractViolation(
                agent,
                output_type=field.type_name,
                expected=f"a list of {field.type_name} in `{field.name}`",
                got=type(value).__name__,
            )
        items: list[Any] = cast(list[Any], value) if field.many else [value]
        for index, item in enumerate(items):
            outputs.append(_as_model(agent, field.model, field.type_name or field.name, item, index))
    return outputs


def _as_model(agent: str, model: type[BaseModel], type_name: str, item: object, index: int) -> BaseModel:
    if isinstance(item, model):
        return item
    try:
        return model.model_validate(item)
    except ValidationError as exc:
        errors = [f"{type_name}[{index}].{'.'.join(map(str, e['loc'])) or '<root>'}: {e['msg']}" for e in exc.errors()]
        raise ContractViolation(
            agent, output_type=type_name, expected=f"a valid {type_name}", got="an invalid payload", errors=errors
        ) from exc


def parse_violation(
    agent: str, plan: SignaturePlan, error: dspy.AdapterParseError, *, usage: Usage | None = None
) -> ContractViolation:
    """The contract violation for a reply the adapter could not parse (the core then asks for a repair)."""
    expected = [field.name for field in plan.outputs]
    errors: list[str] = []
    parsed = cast(dict[str, Any] | None, error.parsed_result)
    if parsed is not None:
        missing = [name for name in expected if name not in parsed]
        if missing:
            errors.append(f"missing output field(s): {', '.join(missing)}")
    detail = str(error.message).split("\n\n", 1)[0].strip()
    if detail and not detail.startswith("Adapter "):
        errors.append(detail[: _EXCERPT * 2])
    if not errors:
        errors.append(
            f"the reply does not follow the {error.adapter_name} format with the fields {', '.join(expected)}"
        )
    reply = str(error.lm_response)
    shown = reply if len(reply) <= _EXCERPT else f"{reply[:_EXCERPT]}..."
    return ContractViolation(
        agent,
        expected=f"a reply with the fields {', '.join(expected)} ({error.adapter_name} format)",
        got=f"an unparseable reply {shown!r}",
        errors=errors,
        usage=usage,
    )
