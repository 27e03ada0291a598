"""Tests of `flock_core.agents._contract.enforce_contract`: the output contract checked on every engine result."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from pydantic import BaseModel, Field

from flock_core.agents._contract import enforce_contract
from flock_core.agents._spec import FanOut, OutputGroup, Predicate
from flock_core.exceptions import ContractViolation


class Idea(BaseModel):
    text: str = Field(min_length=1)


class Score(BaseModel):
    value: int = Field(ge=0, le=10)


class Other(BaseModel):
    text: str


def group(
    *models: type[BaseModel],
    fan_out: FanOut | None = None,
    where: Sequence[Predicate] = (),
    validate: Sequence[tuple[Predicate, str]] = (),
) -> OutputGroup:
    return OutputGroup(
        types=tuple(m.__name__ for m in models),
        models=models,
        fan_out=fan_out or FanOut(),
        where=tuple(where),
        validate=tuple(validate),
    )


def violation(exc: ContractViolation) -> dict[str, Any]:
    return {
        "agent": exc.agent,
        "output_type": exc.output_type,
        "expected": exc.expected,
        "got": exc.got,
        "errors": exc.errors,
    }


def test_valid_outputs_are_returned_revalidated() -> None:
    outputs = enforce_contract("a", group(Idea), [Idea(text="x")])
    assert outputs == [Idea(text="x")]


def test_outputs_of_a_multi_type_group_keep_their_order() -> None:
    outputs: list[BaseModel] = [Score(value=3), Idea(text="x")]
    assert enforce_contract("a", group(Idea, Score), outputs) == outputs


def test_a_type_registered_under_an_explicit_name() -> None:
    """`Flock.register_type(Idea, name="media.Idea")` makes the builder declare the group with that name."""
    renamed = OutputGroup(types=("media.Idea",), models=(Idea,), fan_out=FanOut(2))
    assert enforce_contract("writer", renamed, [Idea(text="a"), Idea(text="b")]) == [Idea(text="a"), Idea(text="b")]


def test_an_undeclared_type() -> None:
    with pytest.raises(ContractViolation) as caught:
        enforce_contract("writer", group(Idea), [Other(text="x")])
    assert violation(caught.value) == {
        "agent": "writer",
        "output_type": "Other",
        "expected": "only declared types ['Idea']",
        "got": "undeclared 'Other'",
        "errors": (),
    }


def test_a_class_with_a_declared_name_but_not_the_declared_class() -> None:
    class Impostor(BaseModel):
        text: str

    Impostor.__name__ = "Idea"
    with pytest.raises(ContractViolation) as caught:
        enforce_contract("writer", group(Idea), [Impostor(text="x")])
    assert (caught.value.output_type, caught.value.got) == ("Idea", "undeclared 'Idea'")


@pytest.mark.parametrize(
    ("output", "got"),
    [
        pytest.param({"text": "x"}, "dict at #1", id="dict"),
        pytest.param("x", "str at #1", id="str"),
        pytest.param(None, "NoneType at #1", id="none"),
    ],
)
def test_an_output_that_is_not_a_model(output: object, got: str) -> None:
    with pytest.raises(ContractViolation) as caught:
        enforce_contract("writer", group(Idea), [Idea(text="ok"), output])
    assert violation(caught.value) == {
        "agent": "writer",
        "output_type": None,
        "expected": "Pydantic models of ['Idea']",
        "got": got,
        "errors": (),
    }


@pytest.mark.parametrize(
    ("bad", "errors"),
    [
        pytest.param(Score.model_construct(value=11), ("value: Input should be less than or equal to 10",), id="range"),
        pytest.param(Score.model_construct(), ("value: Field required",), id="missing"),
        pytest.param(
            Score.model_construct(value="many"),  # pyright: ignore[reportArgumentType]
            ("value: Input should be a valid integer, unable to parse string as an integer",),
            id="wrong-type",
        ),
    ],
)
def test_an_invalid_payload_built_without_validation(bad: Score, errors: tuple[str, ...]) -> None:
    with pytest.raises(ContractViolation) as caught:
        enforce_contract("scorer", group(Score), [bad])
    assert violation(caught.value) == {
        "agent": "scorer",
        "output_type": "Score",
        "expected": "a valid Score",
        "got": "an invalid payload",
        "errors": errors,
    }


class Scores(BaseModel):
    best: Score
    all: list[Score]


def mutated() -> Score:
    score = Score(value=3)
    score.value = 12  # no validate_assignment: the instance is invalid now
    return score


@pytest.mark.parametrize(
    ("bad", "errors"),
    [
        pytest.param(
            Scores(best=Score(value=1), all=[Score(value=2), Score.model_construct(value=11)]),
            ("all.1.value: Input should be less than or equal to 10",),
            id="nested-built-without-validation",
        ),
        pytest.param(
            Scores(best=mutated(), all=[]),
            ("best.value: Input should be less than or equal to 10",),
            id="nested-changed-after-validation",
        ),
    ],
)
def test_an_invalid_nested_model_in_a_valid_output(bad: Scores, errors: tuple[str, ...]) -> None:
    with pytest.raises(ContractViolation) as caught:
        enforce_contract("scorer", group(Scores), [bad])
    assert (caught.value.got, caught.value.errors) == ("an invalid payload", errors)


def test_an_output_changed_after_validation_is_validated_again() -> None:
    with pytest.raises(ContractViolation) as caught:
        enforce_contract("scorer", group(Score), [mutated()])
    assert caught.value.errors == ("value: Input should be less than or equal to 10",)


@pytest.mark.parametrize("count", [0, 1, 2, 4])
def test_exact_fan_out_with_the_wrong_count(count: int) -> None:
    with pytest.raises(ContractViolation) as caught:
        enforce_contract("brainstorm", group(Idea, fan_out=FanOut(3)), [Idea(text="x")] * count)
    assert violation(caught.value) == {
        "agent": "brainstorm",
        "output_type": "Idea",
        "expected": "exactly 3 Idea",
        "got": f"{count} x Idea",
        "errors": (f"Idea: expected exactly 3, got {count}",),
    }


def test_exact_fan_out_with_the_right_count() -> None:
    assert len(enforce_contract("brainstorm", group(Idea, fan_out=FanOut(3)), [Idea(text="x")] * 3)) == 3


@pytest.mark.parametrize("count", [2, 3, 5])
def test_a_range_accepts_counts_within(count: int) -> None:
    assert len(enforce_contract("a", group(Idea, fan_out=FanOut(2, 5)), [Idea(text="x")] * count)) == count


@pytest.mark.parametrize("count", [1, 6])
def test_a_range_rejects_counts_outside(count: int) -> None:
    with pytest.raises(ContractViolation) as caught:
        enforce_contract("a", group(Idea, fan_out=FanOut(2, 5)), [Idea(text="x")] * count)
    assert violation(caught.value) == {
        "agent": "a",
        "output_type": "Idea",
        "expected": "between 2 and 5 Idea",
        "got": f"{count} x Idea",
        "errors": (f"Idea: expected between 2 and 5, got {count}",),
    }


def test_a_range_from_zero_accepts_nothing() -> None:
    assert enforce_contract("a", group(Idea, fan_out=FanOut(0, 2)), []) == []


def test_a_multi_type_group_counts_each_type() -> None:
    outputs = [Idea(text="a"), Score(value=1), Idea(text="b")]
    with pytest.raises(ContractViolation) as caught:
        enforce_contract("pair", group(Idea, Score, fan_out=FanOut(2)), outputs)
    assert violation(caught.value) == {
        "agent": "pair",
        "output_type": "Score",
        "expected": "exactly 2 Idea, exactly 2 Score",
        "got": "2 x Idea, 1 x Score",
        "errors": ("Score: expected exactly 2, got 1",),
    }


def test_a_multi_type_group_reports_every_wrong_type() -> None:
    with pytest.raises(ContractViolation) as caught:
        enforce_contract("pair", group(Idea, Score), [])
    assert violation(caught.value) == {
        "agent": "pair",
        "output_type": "Idea",
        "expected": "exactly 1 Idea, exactly 1 Score",
        "got": "0 x Idea, 0 x Score",
        "errors": ("Idea: expected exactly 1, got 0", "Score: expected exactly 1, got 0"),
    }


def test_a_failing_validate_rule() -> None:
    rules = [(lambda s: s.value > 5, "score must be above 5"), (lambda s: s.value < 9, "score must be below 9")]
    with pytest.raises(ContractViolation) as caught:
        enforce_contract("scorer", group(Score, fan_out=FanOut(2), validate=rules), [Score(value=3), Score(value=7)])
    assert violation(caught.value) == {
        "agent": "scorer",
        "output_type": None,
        "expected": "outputs passing validate= rules",
        "got": "violations",
        "errors": ("Score: score must be above 5",),
    }


def test_passing_validate_rules() -> None:
    rules = [(lambda s: s.value > 5, "above 5")]
    assert enforce_contract("scorer", group(Score, validate=rules), [Score(value=7)]) == [Score(value=7)]


def test_a_validate_rule_that_raises_is_a_failed_rule_named_with_its_exception() -> None:
    def explode(output: Any) -> bool:
        raise KeyError("missing")

    with pytest.raises(ContractViolation) as caught:
        enforce_contract("scorer", group(Score, validate=[(explode, "explode")]), [Score(value=1)])
    assert violation(caught.value) == {
        "agent": "scorer",
        "output_type": None,
        "expected": "outputs passing validate= rules",
        "got": "violations",
        "errors": ("Score: explode (rule raised KeyError: 'missing')",),
    }


def test_where_filters_drop_outputs_after_every_check() -> None:
    outputs = [Score(value=v) for v in (1, 6, 9, 4)]
    where: list[Predicate] = [lambda s: s.value > 2, lambda s: s.value < 9]
    kept = enforce_contract("scorer", group(Score, fan_out=FanOut(1, 4), where=where), outputs)
    assert kept == [Score(value=6), Score(value=4)]


def test_where_filters_do_not_excuse_a_wrong_count() -> None:
    where: list[Predicate] = [lambda s: False]
    with pytest.raises(ContractViolation, match="expected exactly 2"):
        enforce_contract("scorer", group(Score, fan_out=FanOut(2), where=where), [Score(value=1)])


def test_a_where_filter_that_raises() -> None:
    def explode(output: Any) -> bool:
        raise ValueError("bad filter")

    with pytest.raises(ContractViolation) as caught:
        enforce_contract("scorer", group(Score, where=[explode]), [Score(value=1)])
    assert violation(caught.value) == {
        "agent": "scorer",
        "output_type": "Score",
        "expected": "where= filters that return a bool",
        "got": "ValueError: bad filter",
        "errors": (),
    }
    assert isinstance(caught.value.__cause__, ValueError)


def test_the_message_names_agent_type_and_errors() -> None:
    with pytest.raises(ContractViolation) as caught:
        enforce_contract("brainstorm", group(Idea, fan_out=FanOut(2)), [Idea(text="a")])
    assert str(caught.value) == (
        "agent 'brainstorm' output 'Idea': expected exactly 2 Idea, got 1 x Idea\n  - Idea: expected exactly 2, got 1"
    )
