from __future__ import annotations

import datetime as dt
import enum
import uuid
from decimal import Decimal
from typing import Annotated, Any, Literal

import pytest
from pydantic import AnyUrl, BaseModel, Field, TypeAdapter

from engines._synthetic import synthesize


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Address(BaseModel):
    street: str = Field(min_length=40)
    zip_code: str = Field(max_length=5)


class Person(BaseModel):
    name: str = Field(min_length=2, max_length=12)
    age: int = Field(ge=18, le=21)
    height: float = Field(gt=1.5, lt=1.6)
    step: int = Field(multiple_of=7, ge=10, le=30)
    ratio: float = Field(ge=0, le=1, multiple_of=0.25)
    color: Color
    mood: Literal["calm", "wild"]
    kind: Literal["person"] = "person"
    nickname: str | None = None
    address: Address
    previous: list[Address] = Field(min_length=3, max_length=3)
    tags: set[str] = Field(max_length=1)
    scores: dict[str, int]
    pair: tuple[int, str]
    born: dt.datetime
    day: dt.date
    id: uuid.UUID
    homepage: AnyUrl
    balance: Decimal
    flag: bool
    anything: Any = None


class Node(BaseModel):
    label: str
    children: list[Node] = Field(default_factory=list["Node"])


class Cat(BaseModel):
    kind: Literal["cat"]
    lives: int = Field(ge=1, le=9)


class Dog(BaseModel):
    kind: Literal["dog"]
    good: bool


class Pet(BaseModel):
    pet: Annotated[Cat | Dog, Field(discriminator="kind")]


@pytest.mark.parametrize("annotation", [Person, Node, Pet, list[Person], str, int, float, bool, dict[str, float]])
@pytest.mark.parametrize("seed", [0, 1, 2, 12345, 2**63 - 1])
def test_values_are_valid_for_the_schema(annotation: Any, seed: int) -> None:
    adapter: TypeAdapter[Any] = TypeAdapter(annotation)
    value = synthesize(adapter.json_schema(), seed=seed, label="field")
    adapter.validate_python(value)


def test_same_seed_same_value_other_seed_other_value() -> None:
    schema = TypeAdapter(Person).json_schema()
    assert synthesize(schema, seed=7, label="p") == synthesize(schema, seed=7, label="p")
    assert synthesize(schema, seed=7, label="p") != synthesize(schema, seed=8, label="p")


def test_strings_are_visibly_synthetic_and_name_their_field() -> None:
    value = synthesize(TypeAdapter(Address).json_schema(), seed=0xBEEF, label="home")
    assert value["street"].startswith("synthetic text 1 for home.street (beef)")
    assert value["zip_code"] == "synth"


@pytest.mark.parametrize(("count", "sizes"), [((3, 3), {3}), ((1, 4), {1, 2, 3, 4}), ((0, 0), {0})])
def test_top_level_count_sets_the_list_length(count: tuple[int, int], sizes: set[int]) -> None:
    schema = TypeAdapter(list[Address]).json_schema()
    seen = {len(synthesize(schema, seed=seed, label="a", count=count)) for seed in range(40)}
    assert seen == sizes


def test_recursive_models_terminate() -> None:
    value = synthesize(TypeAdapter(Node).json_schema(), seed=1, label="tree")
    depth = 0
    while value.get("children"):
        value, depth = value["children"][0], depth + 1
    assert 0 < depth <= 7
