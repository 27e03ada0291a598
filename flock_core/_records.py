"""Building the frozen, slotted records that every step makes, at the cost of plain attribute assignments."""

from __future__ import annotations

from typing import Any

__all__ = ["thaw", "unfrozen"]

_set = object.__setattr__


def unfrozen(cls: type) -> type:
    """A class with exactly the slots of the frozen, slotted dataclass `cls`, and nothing else: its twin.

    A frozen dataclass refuses attribute assignment, so its generated `__init__` calls `object.__setattr__`
    once per field: a call that packs its arguments into a tuple and looks the field up by name. Plain
    assignments to a slotted instance are specialised by the interpreter instead. An instance may switch
    between two classes of the same layout (`__class__` assignment), so the `__init__` of a record built
    once or more per activation (`WorkRecord`, `EvaluationRequest`, `ArtifactQuery`) switches its new
    instance to the twin (`thaw`), assigns its fields and switches it back: a third of the time of the
    generated `__init__`. The instance is a plain instance of the frozen class from then on.

    >>> from dataclasses import FrozenInstanceError, dataclass
    >>> @dataclass(frozen=True, slots=True, init=False)
    ... class Point:
    ...     x: int
    ...     y: int
    ...
    ...     def __init__(self, x: int, y: int) -> None:
    ...         point = thaw(self, _POINT)
    ...         point.x = x
    ...         point.y = y
    ...         point.__class__ = Point
    >>> _POINT = unfrozen(Point)
    >>> point = Point(1, 2)
    >>> point, type(point) is Point, point == Point(1, 2)
    (Point(x=1, y=2), True, True)
    >>> point.x = 3
    Traceback (most recent call last):
    ...
    dataclasses.FrozenInstanceError: cannot assign to field 'x'
    """
    slots = cls.__dict__.get("__slots__")
    if slots is None or not hasattr(cls, "__dataclass_fields__"):
        raise TypeError(f"{cls.__name__} is not a slotted dataclass")
    return type(f"Unfrozen{cls.__name__}", (), {"__slots__": slots, "__module__": cls.__module__})


def thaw(record: object, twin: type) -> Any:
    """`record`, a new instance of the frozen class `twin` was made from, as an instance of `twin`.

    Assign its fields, then `__class__` (the frozen class) last. An instance of a subclass of the frozen
    class has another layout and cannot switch: it comes back wrapped, and the wrapper sets the fields
    assigned to it with `object.__setattr__` (and ignores `__class__`).
    """
    try:
        _set(record, "__class__", twin)
    except TypeError:
        return _Assigner(record)
    return record


class _Assigner:
    """Sets the fields assigned to it on a frozen record with `object.__setattr__` (see `thaw`)."""

    __slots__ = ("_record",)

    def __init__(self, record: object) -> None:
        _set(self, "_record", record)

    def __setattr__(self, name: str, value: object) -> None:
        if name != "__class__":
            _set(self._record, name, value)
