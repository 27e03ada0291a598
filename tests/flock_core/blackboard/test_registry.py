"""Tests of `flock_core.blackboard._registry`: the registry of blackboard types and `@flock_type`."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from flock_core.blackboard import _registry
from flock_core.blackboard._registry import TypeRegistry, default_registry, flock_type, type_name_of
from flock_core.exceptions import TypeRegistrationError


class Movie(BaseModel):
    title: str


class Song(BaseModel):
    title: str


@pytest.fixture
def fresh_default(monkeypatch: pytest.MonkeyPatch) -> TypeRegistry:
    """Replace the process-wide default registry so `@flock_type` in a test leaves no trace."""
    registry = TypeRegistry()
    monkeypatch.setattr(_registry, "default_registry", registry)
    return registry


def test_register_resolve_and_name_of() -> None:
    registry = TypeRegistry()
    assert registry.register(Movie) == "Movie"
    assert registry.resolve("Movie") is Movie
    assert registry.name_of(Movie) == "Movie"
    assert "Movie" in registry
    assert Movie in registry
    assert Song not in registry
    assert (list(registry), len(registry)) == (["Movie"], 1)


def test_registering_the_same_class_twice_is_idempotent() -> None:
    registry = TypeRegistry()
    assert (registry.register(Movie), registry.register(Movie)) == ("Movie", "Movie")
    assert len(registry) == 1


def test_register_under_an_explicit_name() -> None:
    registry = TypeRegistry()
    assert registry.register(Movie, name="media.Movie") == "media.Movie"
    assert registry.resolve("media.Movie") is Movie
    assert registry.name_of(Movie) == "media.Movie"


def test_resolve_unknown_name() -> None:
    with pytest.raises(TypeRegistrationError, match="no type registered as 'Nope'") as caught:
        TypeRegistry().resolve("Nope")
    assert caught.value.type_name == "Nope"


def test_name_of_unregistered_model() -> None:
    with pytest.raises(TypeRegistrationError, match=r"type 'Movie' is not registered; decorate it") as caught:
        TypeRegistry().name_of(Movie)
    assert caught.value.type_name == "Movie"


def test_name_of_another_class_with_the_same_name() -> None:
    registry = TypeRegistry()
    registry.register(Movie)

    class Movie2(BaseModel):
        title: str

    Movie2.__name__ = "Movie"
    with pytest.raises(TypeRegistrationError, match="is not registered"):
        registry.name_of(Movie2)


def test_duplicate_name_for_a_different_class() -> None:
    registry = TypeRegistry()
    registry.register(Movie, name="Media")
    with pytest.raises(TypeRegistrationError) as caught:
        registry.register(Song, name="Media")
    assert caught.value.type_name == "Media"
    assert str(caught.value) == (
        f"type name 'Media' is taken by {__name__}.Movie; {__name__}.Song cannot also use it: "
        "rename one class or give it @flock_type(name=...)"
    )
    assert registry.resolve("Media") is Movie


def test_a_redefinition_replaces_only_where_allowed() -> None:
    def define() -> type[BaseModel]:
        class Note(BaseModel):
            text: str

        return Note

    first, second = define(), define()
    notebook = TypeRegistry()
    notebook.register(first)
    notebook.register(second)  # a re-run notebook cell: the module-level default registry allows it
    assert notebook.resolve("Note") is second
    flocks = TypeRegistry(notebook, replace_redefinitions=False)  # a Flock's own registry does not
    with pytest.raises(TypeRegistrationError, match="a redefinition of that class: create a new Flock"):
        flocks.register(first)
    assert flocks.resolve("Note") is second


@pytest.mark.parametrize("not_a_model", [int, object(), "Movie", Movie(title="an instance")])
def test_non_pydantic_types_are_rejected(not_a_model: object) -> None:
    registry = TypeRegistry()
    with pytest.raises(TypeRegistrationError, match="is not a Pydantic model") as caught:
        registry.register(not_a_model)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    assert caught.value.type_name is None
    assert len(registry) == 0


def test_flock_type_registers_under_the_class_name(fresh_default: TypeRegistry) -> None:
    @flock_type
    class Plain(BaseModel):
        text: str

    assert type_name_of(Plain) == "Plain"
    assert fresh_default.resolve("Plain") is Plain


def test_flock_type_with_an_explicit_name(fresh_default: TypeRegistry) -> None:
    @flock_type(name="doc.Named")
    class Named(BaseModel):
        text: str

    assert type_name_of(Named) == "doc.Named"
    assert fresh_default.resolve("doc.Named") is Named
    assert fresh_default.name_of(Named) == "doc.Named"
    assert "Named" not in fresh_default


def test_flock_type_without_a_name_in_parentheses(fresh_default: TypeRegistry) -> None:
    @flock_type()
    class Bare(BaseModel):
        text: str

    assert list(fresh_default) == ["Bare"]


def test_flock_type_name_is_not_inherited(fresh_default: TypeRegistry) -> None:
    @flock_type(name="doc.Base")
    class Base(BaseModel):
        text: str

    class Child(Base):
        pass

    assert (type_name_of(Base), type_name_of(Child)) == ("doc.Base", "Child")


def test_flock_type_duplicate_name_for_a_different_class(fresh_default: TypeRegistry) -> None:
    @flock_type(name="doc.Thing")
    class Thing(BaseModel):
        pass

    with pytest.raises(TypeRegistrationError, match=r"type name 'doc\.Thing' is taken by") as caught:

        @flock_type(name="doc.Thing")
        class Other(BaseModel):
            pass

    assert caught.value.type_name == "doc.Thing"
    assert fresh_default.resolve("doc.Thing") is Thing


def test_copies_of_the_default_registry_do_not_share_state() -> None:
    first, second = TypeRegistry(default_registry), TypeRegistry(default_registry)
    before = list(default_registry)

    first.register(Movie, name="only.in.first")

    assert "only.in.first" in first
    assert "only.in.first" not in second
    assert "only.in.first" not in default_registry
    assert list(default_registry) == before
    assert list(second) == before


def test_a_copy_starts_with_the_parent_types() -> None:
    parent = TypeRegistry()
    parent.register(Movie)
    child = TypeRegistry(parent)
    child.register(Song)
    assert (list(parent), list(child)) == (["Movie"], ["Movie", "Song"])


def test_iteration_is_sorted_by_name() -> None:
    registry = TypeRegistry()
    registry.register(Song)
    registry.register(Movie)
    registry.register(Movie, name="a.Movie")
    assert list(registry) == ["Movie", "Song", "a.Movie"]
