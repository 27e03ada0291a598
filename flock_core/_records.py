"""Building the frozen, slotted records that every step makes, at the cost of plain attribute assignments."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["plain_init"]

_T = TypeVar("_T")
_set = object.__setattr__


def plain_init(cls: type[_T]) -> type[_T]:
    """Give the frozen, slotted dataclass `cls` an `__init__` of plain assignments; apply it over `@dataclass`.

    The generated `__init__` of a frozen dataclass calls `object.__setattr__` once per field: a call that
    packs its arguments into a tuple and looks the field up by name. Plain assignments to a slotted
    instance are specialised by the interpreter instead. This `__init__` switches the new instance to the
    class's twin (`_twin_of`: the same slots, no `__setattr__`), assigns the fields and switches it back:
    for a record built once or more per activation, half to a third of the generated one's time. Its
    signature is the generated one's: the same parameters in the same order, keyword-only ones included,
    the same defaults; a `default_factory` is called for each instance; `__post_init__` runs last. An
    instance of a subclass with another layout (one with a `__dict__`) is built field by field.

    >>> from dataclasses import FrozenInstanceError, dataclass, field
    >>> @plain_init
    ... @dataclass(frozen=True, slots=True)
    ... class Point:
    ...     x: int
    ...     y: int = 0
    ...     tags: list[str] = field(default_factory=list)
    >>> point = Point(1)
    >>> point, type(point) is Point, point == Point(1, 0, [])
    (Point(x=1, y=0, tags=[]), True, True)
    >>> point.x = 3
    Traceback (most recent call last):
    ...
    dataclasses.FrozenInstanceError: cannot assign to field 'x'

    Raises:
        TypeError: `cls` is not a frozen, slotted dataclass deriving from `object` alone, or has a field
            this `__init__` cannot stand for (`init=False`, `InitVar`).
    """
    params = getattr(cls, "__dataclass_params__", None)
    if params is None or not params.frozen or cls.__bases__ != (object,):
        raise TypeError(f"{cls.__name__} is not a frozen dataclass deriving from object alone")
    twin = _twin_of(cls)
    fields = dataclasses.fields(cls)  # pyright: ignore[reportArgumentType] - checked to be a dataclass above
    if any(not f.init for f in fields):
        raise TypeError(f"{cls.__name__} has fields that are not __init__ parameters (init=False)")
    # the generated code's own names start with `__plain_`: no field can shadow them
    names: dict[str, Any] = {"__plain_cls": cls, "__plain_twin": twin, "__plain_set": _set}
    names["__plain_missing"] = dataclasses.MISSING
    source = _init_source(fields, names, post_init=hasattr(cls, "__post_init__"))
    exec(source, names)  # what `dataclasses` does for the `__init__` it generates
    init = names["__init__"]
    if _parameters(init) != _parameters(cls.__init__):  # an `InitVar`: a parameter that is not a field
        raise TypeError(f"{cls.__name__} has __init__ parameters that are not fields (InitVar)")
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    init.__doc__ = f"Build a {cls.__name__} (see `flock_core._records.plain_init`)."
    cls.__init__ = init  # pyright: ignore[reportAttributeAccessIssue] - the signature is the dataclass's own
    return cls


def _init_source(fields: tuple[dataclasses.Field[Any], ...], names: dict[str, Any], *, post_init: bool) -> str:
    """The source of `plain_init`'s `__init__` for `fields`; the defaults and factories go into `names`."""
    signature: list[str] = []
    keyword: list[str] = []
    values: list[tuple[str, str]] = []  # (field, the expression of its value)
    for f in fields:
        value = f.name
        if f.default is not dataclasses.MISSING:
            names[f"__plain_default_{f.name}"] = f.default
            parameter = f"{f.name}=__plain_default_{f.name}"
        elif f.default_factory is not dataclasses.MISSING:
            names[f"__plain_factory_{f.name}"] = f.default_factory
            parameter = f"{f.name}=__plain_missing"
            value = f"__plain_factory_{f.name}() if {f.name} is __plain_missing else {f.name}"
        else:
            parameter = f.name
        (keyword if f.kw_only else signature).append(parameter)
        values.append((f.name, value))
    if keyword:
        signature += ["*", *keyword]
    return "\n".join(
        [
            f"def __init__(self, {', '.join(signature)}):",
            "    if self.__class__ is __plain_cls:",
            "        __plain_set(self, '__class__', __plain_twin)",
            *(f"        self.{name} = {value}" for name, value in values),
            "        self.__class__ = __plain_cls",
            "    else:",
            *(f"        __plain_set(self, {name!r}, {value})" for name, value in values),
            "        pass",
            "    self.__post_init__()" if post_init else "",
        ]
    )


def _parameters(function: Callable[..., object]) -> tuple[tuple[str, ...], int]:
    """`function`'s parameter names and how many of them are keyword-only (from its code: no `inspect`)."""
    code = function.__code__
    return code.co_varnames[: code.co_argcount + code.co_kwonlyargcount], code.co_kwonlyargcount


def _twin_of(cls: type) -> type:
    """A class with exactly the slots of the frozen, slotted dataclass `cls`, and nothing else: its twin.

    An instance may switch between two classes of the same layout (`__class__` assignment): a new instance
    of `cls` switched to its twin takes plain assignments, and switched back it is a plain, frozen instance
    of `cls` (see `plain_init`).
    """
    slots = cls.__dict__.get("__slots__")
    if slots is None or not hasattr(cls, "__dataclass_fields__"):
        raise TypeError(f"{cls.__name__} is not a slotted dataclass")
    return type(f"Unfrozen{cls.__name__}", (), {"__slots__": slots, "__module__": cls.__module__})
