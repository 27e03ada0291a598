"""The type registry: which Pydantic models may travel on a blackboard, and under which names."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, TypeVar, overload

from pydantic import BaseModel

from ..exceptions import TypeRegistrationError

__all__ = ["TypeRegistry", "default_registry", "flock_type", "type_name_of"]

M = TypeVar("M", bound=type[BaseModel])

_NAME_ATTR = "__flock_type_name__"


def type_name_of(model: type[BaseModel]) -> str:
    """The blackboard name of a model: the name given to `@flock_type`, else the class name."""
    name = model.__dict__.get(_NAME_ATTR)
    return name if isinstance(name, str) else model.__name__


class TypeRegistry:
    """Maps blackboard type names to Pydantic models.

    Each `Flock` owns one registry. It starts from the types registered with the module-level
    `@flock_type` decorator at the time the `Flock` is created, and never writes back to them,
    so two `Flock` objects in one process do not share mutable state.

    >>> from pydantic import BaseModel
    >>> class Movie(BaseModel):
    ...     title: str
    >>> registry = TypeRegistry()
    >>> registry.register(Movie)
    'Movie'
    >>> registry.resolve("Movie") is Movie
    True
    """

    def __init__(self, parent: TypeRegistry | None = None, *, replace_redefinitions: bool = True) -> None:
        self._by_name: dict[str, type[BaseModel]] = dict(parent._by_name) if parent else {}
        self._names: dict[type[BaseModel], str] = dict(parent._names) if parent else {}
        self._replace_redefinitions = replace_redefinitions

    def register(self, model: type[BaseModel], *, name: str | None = None) -> str:
        """Register `model` under `name` (default: its `@flock_type` name or class name) and return the name.

        Re-declaring the same class (same module and qualified name, as a re-run notebook cell does)
        replaces the old registration unless the registry was made with `replace_redefinitions=False` (a
        `Flock`'s own registry, whose agents may hold the old class); any other class under a taken name
        raises `TypeRegistrationError` naming both.
        """
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            raise TypeRegistrationError(
                f"{model!r} is not a Pydantic model; blackboard types must subclass pydantic.BaseModel"
            )
        type_name = name or type_name_of(model)
        existing = self._by_name.get(type_name)
        if (
            existing is not None
            and existing is not model
            and not (self._replace_redefinitions and _redefinition(existing, model))
        ):
            raise _clash(type_name, existing, model)
        if existing is not None:
            self._names.pop(existing, None)
        self._by_name[type_name] = model
        self._names[model] = type_name
        return type_name

    def declare(self, model: type[BaseModel]) -> str:
        """The name of a type used in an agent declaration, registering it under its class name if needed.

        A type that is already registered keeps its name (an explicit `@flock_type(name=...)` still names
        it). A different class under the same name is never replaced: `TypeRegistrationError` names both.

        >>> from pydantic import BaseModel
        >>> class Movie(BaseModel):
        ...     title: str
        >>> registry = TypeRegistry()
        >>> registry.declare(Movie), registry.declare(Movie)
        ('Movie', 'Movie')
        """
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            raise TypeRegistrationError(
                f"{model!r} is not a Pydantic model; blackboard types must subclass pydantic.BaseModel"
            )
        if model in self._names:
            return self._names[model]
        type_name = type_name_of(model)
        existing = self._by_name.get(type_name)
        if existing is not None:
            raise _clash(type_name, existing, model)
        return self.register(model)

    def name_of(self, model: type[BaseModel]) -> str:
        """The registered name of `model`; raises `TypeRegistrationError` when it is not registered."""
        name = self._names.get(model) or type_name_of(model)
        if self._by_name.get(name) is not model:
            raise TypeRegistrationError(
                f"type {model.__qualname__!r} is not registered; decorate it with @flock_type "
                "or call flock.register_type()",
                type_name=name,
            )
        return name

    def resolve(self, name: str) -> type[BaseModel]:
        """The model registered as `name`."""
        try:
            return self._by_name[name]
        except KeyError:
            raise TypeRegistrationError(f"no type registered as {name!r}", type_name=name) from None

    def __contains__(self, item: object) -> bool:
        if isinstance(item, str):
            return item in self._by_name
        return isinstance(item, type) and item in self._names

    def snapshot(self) -> dict[str, type[BaseModel]]:
        """The current registrations (for `restore`)."""
        return dict(self._by_name)

    def restore(self, snapshot: dict[str, type[BaseModel]]) -> None:
        """Return to the registrations of an earlier `snapshot` (tests use this to isolate `@flock_type`)."""
        self._by_name = dict(snapshot)
        self._names = {model: name for name, model in snapshot.items()}

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._by_name))

    def __len__(self) -> int:
        return len(self._by_name)


def _qualified(model: type[BaseModel]) -> str:
    return f"{model.__module__}.{model.__qualname__}"


def _clash(type_name: str, existing: type[BaseModel], model: type[BaseModel]) -> TypeRegistrationError:
    hint = (
        "(a redefinition of that class: create a new Flock after redefining it)"
        if _redefinition(existing, model)
        else "rename one class or give it @flock_type(name=...)"
    )
    return TypeRegistrationError(
        f"type name {type_name!r} is taken by {_qualified(existing)}; {_qualified(model)} cannot also use it: {hint}",
        type_name=type_name,
    )


def _redefinition(old: type[BaseModel], new: type[BaseModel]) -> bool:
    """Whether `new` re-declares `old` (same module and qualified name), as a notebook cell or a reload does."""
    return (old.__module__, old.__qualname__) == (new.__module__, new.__qualname__)


default_registry = TypeRegistry()
"""Types registered by `@flock_type`; every new `Flock` starts from a copy of it."""


@overload
def flock_type(model: M, /) -> M: ...
@overload
def flock_type(*, name: str | None = None) -> Callable[[M], M]: ...
def flock_type(model: M | None = None, /, *, name: str | None = None) -> M | Callable[[M], M]:
    """Register a Pydantic model as a blackboard type, optionally under an explicit `name`.

    >>> from pydantic import BaseModel
    >>> @flock_type(name="doc.Idea")
    ... class Idea(BaseModel):
    ...     text: str
    >>> type_name_of(Idea)
    'doc.Idea'
    """

    def decorate(cls: M) -> M:
        if name is not None:
            setattr(cls, _NAME_ATTR, name)
        default_registry.register(cls)
        return cls

    return decorate(model) if model is not None else decorate


def validate_payload(model: type[BaseModel], data: Any) -> dict[str, Any]:
    """Validate `data` (a model instance or a mapping) as `model`; returns the valid payload as JSON-compatible data.

    An instance is checked again from its fields: it may have been changed since it was built, or built
    without validation (`model_construct`). This calls Pydantic's validator and serializer directly (what
    `model_dump`, `model_validate` and `model_dump(mode="json")` call, without their wrappers).
    """
    if isinstance(data, model):
        data = type(data).__pydantic_serializer__.to_python(data, warnings=False)
    validated = model.__pydantic_validator__.validate_python(data)
    return model.__pydantic_serializer__.to_python(validated, mode="json")
