"""Tests of `flock_core.blackboard._payloads`: validating what users publish."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from pydantic import BaseModel, Field

from flock_core.blackboard._payloads import to_payload
from flock_core.blackboard._registry import TypeRegistry
from flock_core.exceptions import PayloadValidationError, TypeRegistrationError


class Crew(BaseModel):
    name: str
    role: str


class Movie(BaseModel):
    title: str
    year: int = Field(ge=1888)
    crew: list[Crew] = Field(default_factory=list[Crew])


class Unregistered(BaseModel):
    title: str


@pytest.fixture
def registry() -> TypeRegistry:
    registry = TypeRegistry()
    registry.register(Movie)
    return registry


def test_an_instance(registry: TypeRegistry) -> None:
    movie = Movie(title="Heat", year=1995, crew=[Crew(name="Mann", role="director")])
    assert to_payload(registry, movie) == (
        "Movie",
        {"title": "Heat", "year": 1995, "crew": [{"name": "Mann", "role": "director"}]},
    )


def test_a_typed_mapping_is_validated_and_coerced(registry: TypeRegistry) -> None:
    assert to_payload(registry, {"type": "Movie", "payload": {"title": "Heat", "year": "1995"}}) == (
        "Movie",
        {"title": "Heat", "year": 1995, "crew": []},
    )


def test_an_instance_registered_under_an_explicit_name() -> None:
    registry = TypeRegistry()
    registry.register(Movie, name="media.Movie")
    assert to_payload(registry, Movie(title="Heat", year=1995)) == (
        "media.Movie",
        {"title": "Heat", "year": 1995, "crew": []},
    )


def test_an_unregistered_instance(registry: TypeRegistry) -> None:
    with pytest.raises(TypeRegistrationError, match="'Unregistered' is not registered") as caught:
        to_payload(registry, Unregistered(title="x"))
    assert caught.value.type_name == "Unregistered"


def test_an_unknown_type_name(registry: TypeRegistry) -> None:
    with pytest.raises(TypeRegistrationError, match="no type registered as 'Film'") as caught:
        to_payload(registry, {"type": "Film", "payload": {"title": "Heat"}})
    assert caught.value.type_name == "Film"


@pytest.mark.parametrize(
    "mapping",
    [
        pytest.param({"payload": {"title": "Heat"}}, id="no-type"),
        pytest.param({"type": "Movie"}, id="no-payload"),
        pytest.param({"type": "Movie", "payload": {}, "tags": ["x"]}, id="extra-key"),
        pytest.param({"type": Movie, "payload": {}}, id="type-not-a-string"),
        pytest.param({}, id="empty"),
        pytest.param({"title": "Heat", "year": 1995}, id="bare-payload"),
    ],
)
def test_a_badly_shaped_mapping(registry: TypeRegistry, mapping: Mapping[str, Any]) -> None:
    with pytest.raises(TypeRegistrationError) as caught:
        to_payload(registry, mapping)
    assert str(caught.value) == 'a published mapping must be {"type": <registered type name>, "payload": {...}}'


def test_an_invalid_payload_names_every_field(registry: TypeRegistry) -> None:
    payload = {"year": 1700, "crew": [{"name": "Mann"}]}
    with pytest.raises(PayloadValidationError) as caught:
        to_payload(registry, {"type": "Movie", "payload": payload})
    assert (caught.value.type_name, caught.value.errors) == (
        "Movie",
        (
            "title: Field required",
            "year: Input should be greater than or equal to 1888",
            "crew.0.role: Field required",
        ),
    )
    assert str(caught.value) == (
        "invalid 'Movie' payload:\n"
        "  - title: Field required\n"
        "  - year: Input should be greater than or equal to 1888\n"
        "  - crew.0.role: Field required"
    )
    assert isinstance(caught.value, ValueError)


def test_a_payload_that_is_not_a_mapping(registry: TypeRegistry) -> None:
    with pytest.raises(PayloadValidationError) as caught:
        to_payload(registry, {"type": "Movie", "payload": 42})
    assert caught.value.errors == ("<root>: Input should be a valid dictionary or instance of Movie",)


def test_an_instance_built_without_validation_missing_a_field(registry: TypeRegistry) -> None:
    movie = Movie.model_construct(year=1995)
    with pytest.raises(PayloadValidationError) as caught:
        to_payload(registry, movie)
    assert (caught.value.type_name, caught.value.errors) == ("Movie", ("title: Field required",))


def test_an_instance_built_without_validation_breaking_a_constraint(registry: TypeRegistry) -> None:
    movie = Movie.model_construct(title="Heat", year=1000)
    with pytest.raises(PayloadValidationError) as caught:
        to_payload(registry, movie)
    assert caught.value.errors == ("year: Input should be greater than or equal to 1888",)


def test_an_instance_built_without_validation_with_a_wrong_type(registry: TypeRegistry) -> None:
    movie = Movie.model_construct(title="Heat", year="nineteen ninety-five")  # pyright: ignore[reportArgumentType]
    with pytest.raises(PayloadValidationError) as caught:
        to_payload(registry, movie)
    assert caught.value.errors == ("year: Input should be a valid integer, unable to parse string as an integer",)
