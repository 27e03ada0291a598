"""Building the frozen, slotted records that every step makes, without `object.__setattr__` per field."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from typing import Any

__all__ = ["slot_setters"]


def slot_setters(cls: type) -> tuple[Callable[[Any, Any], None], ...]:
    """The setters of a slotted dataclass's slots, in field order.

    A frozen dataclass's generated `__init__` calls `object.__setattr__` once per field; each slot's own
    setter does the same in half the time. The records built once or more per activation (`WorkRecord`,
    `EvaluationRequest`, `ArtifactQuery`) write their `__init__` with these.

    >>> from dataclasses import dataclass
    >>> @dataclass(frozen=True, slots=True)
    ... class Point:
    ...     x: int
    ...     y: int
    >>> set_x, set_y = slot_setters(Point)
    >>> point = object.__new__(Point)
    >>> set_x(point, 1)
    >>> set_y(point, 2)
    >>> point
    Point(x=1, y=2)
    """
    return tuple(cls.__dict__[f.name].__set__ for f in fields(cls))
