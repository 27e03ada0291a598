"""The output contract the core enforces on every engine's result, whatever the engine."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ValidationError

from ..blackboard._registry import type_name_of
from ..exceptions import ContractViolation
from ._spec import OutputGroup

__all__ = ["enforce_contract"]


def _declared(group: OutputGroup, output: BaseModel) -> tuple[str, type[BaseModel] | None]:
    """The declared name and model of `output` in `group` (by class, so explicit names work), if declared."""
    for name, model in zip(group.types, group.models, strict=True):
        if type(output) is model:
            return name, model
    return type_name_of(type(output)), None


def _describe_counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} x {t}" for t, n in counts.items()) or "nothing"


def _validated(agent: str, group: OutputGroup, outputs: Sequence[object]) -> tuple[list[BaseModel], dict[str, int]]:
    """The outputs validated again (each from a dump of itself), and how many there are of each declared type."""
    result: list[BaseModel] = []
    counts = dict.fromkeys(group.types, 0)
    for index, output in enumerate(outputs):
        if not isinstance(output, BaseModel):
            raise ContractViolation(
                agent,
                expected=f"Pydantic models of {list(group.types)}",
                got=f"{type(output).__name__} at #{index}",
            )
        name, model = _declared(group, output)
        if model is None:
            raise ContractViolation(
                agent,
                output_type=name,
                expected=f"only declared types {list(group.types)}",
                got=f"undeclared {name!r}",
            )
        counts[name] += 1
        try:
            # `model_validate(output.model_dump(warnings=False))` without the two methods' own Python layer;
            # from a dump, so that nested models are validated again too (a nested instance is not)
            dumped = output.__pydantic_serializer__.to_python(output, warnings=False)
            result.append(model.__pydantic_validator__.validate_python(dumped))
        except ValidationError as exc:
            errors = [f"{'.'.join(map(str, e['loc'])) or '<root>'}: {e['msg']}" for e in exc.errors()]
            raise ContractViolation(
                agent, output_type=name, expected=f"a valid {name}", got="an invalid payload", errors=errors
            ) from exc
    return result, counts


def _check_counts(agent: str, group: OutputGroup, counts: dict[str, int]) -> None:
    wrong = [name for name, count in counts.items() if not group.fan_out.accepts(count)]
    if wrong:
        expected = ", ".join(f"{group.fan_out.describe()} {name}" for name in group.types)
        raise ContractViolation(
            agent,
            output_type=wrong[0],
            expected=expected,
            got=_describe_counts(counts),
            errors=[f"{n}: expected {group.fan_out.describe()}, got {counts[n]}" for n in wrong],
        )


def _check_rules(agent: str, group: OutputGroup, outputs: Sequence[BaseModel]) -> None:
    errors: list[str] = []
    for output in outputs:
        for rule, message in group.validate:
            try:
                problem = None if rule(output) else message
            except Exception as exc:  # noqa: BLE001 - a user rule that raises is a failed rule, named with its error
                problem = f"{message} (rule raised {type(exc).__name__}: {exc})"
            if problem is not None:
                errors.append(f"{_declared(group, output)[0]}: {problem}")
    if errors:
        raise ContractViolation(agent, expected="outputs passing validate= rules", got="violations", errors=errors)


def _keep(agent: str, group: OutputGroup, output: BaseModel) -> bool:
    for predicate in group.where:
        try:
            if not predicate(output):
                return False
        except Exception as exc:
            raise ContractViolation(
                agent,
                output_type=_declared(group, output)[0],
                expected="where= filters that return a bool",
                got=f"{type(exc).__name__}: {exc}",
            ) from exc
    return True


def enforce_contract(agent: str, group: OutputGroup, outputs: Sequence[object]) -> list[BaseModel]:
    """Check an engine's outputs for one group and return the validated ones to publish.

    Checks, in order: only declared types, Pydantic validation (instances built without validation are
    re-validated), the fan-out count per type, `validate=` rules. Then `where=` filters drop outputs
    that should not be published. Any violation raises `ContractViolation`; nothing is partially accepted.

    >>> from pydantic import BaseModel
    >>> from flock_core.agents._spec import FanOut
    >>> class Idea(BaseModel):
    ...     text: str
    >>> group = OutputGroup(types=("Idea",), models=(Idea,), fan_out=FanOut(2))
    >>> enforce_contract("brainstorm", group, [Idea(text="a")])
    Traceback (most recent call last):
    ...
    flock_core.exceptions.ContractViolation: agent 'brainstorm' output 'Idea': expected exactly 2 Idea, got 1 x Idea
      - Idea: expected exactly 2, got 1
    """
    validated, counts = _validated(agent, group, outputs)
    _check_counts(agent, group, counts)
    if group.validate:
        _check_rules(agent, group, validated)
    if not group.where:
        return validated
    return [output for output in validated if _keep(agent, group, output)]
