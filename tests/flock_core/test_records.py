"""Records whose `__init__` is not the dataclass's own behave exactly as if it were.

`plain_init` generates the `__init__` of the frozen, slotted records built on every step; `Commit` has one
written by hand. A field the generated code skips, a parameter out of order or a value landing in the
wrong field must fail here.
"""

from __future__ import annotations

import dataclasses
import inspect
import pickle
from dataclasses import InitVar, dataclass, field
from typing import Any, ClassVar

import pytest

from flock_core._records import plain_init
from flock_core.agents._activation import Output
from flock_core.agents._context import ContextRequest
from flock_core.agents._engine import EvaluationRequest, EvaluationResult
from flock_core.blackboard._store import ArtifactPage, ArtifactQuery
from flock_core.blackboard._work import Commit, WorkRecord

PLAIN = [WorkRecord, EvaluationRequest, EvaluationResult, ArtifactQuery, ArtifactPage, ContextRequest, Output]
RECORDS = [Commit, *PLAIN]


def _reference(cls: type[Any]) -> type[Any]:
    """The same fields through the dataclass's own generated `__init__`."""
    fields = [(f.name, f.type, f) for f in dataclasses.fields(cls)]
    return dataclasses.make_dataclass(f"Reference{cls.__name__}", fields, frozen=True, slots=True)


@pytest.mark.parametrize("cls", RECORDS, ids=lambda cls: cls.__name__)
def test_init_has_the_signature_of_the_generated_one(cls: type[Any]) -> None:
    ours = inspect.signature(cls.__init__).parameters.values()
    generated = inspect.signature(_reference(cls).__init__).parameters.values()
    assert [(p.name, p.kind, p.default) for p in ours] == [(p.name, p.kind, p.default) for p in generated]


@pytest.mark.parametrize("cls", RECORDS, ids=lambda cls: cls.__name__)
def test_each_argument_lands_in_its_own_field_and_the_record_stays_frozen(cls: type[Any]) -> None:
    values = {f.name: object() for f in dataclasses.fields(cls)}  # a distinct marker per field
    record = cls(**values)
    assert {name: getattr(record, name) for name in values} == values
    positional = cls(*values.values())
    assert all(getattr(positional, name) is value for name, value in values.items())
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(record, next(iter(values)), None)


@pytest.mark.parametrize("cls", RECORDS, ids=lambda cls: cls.__name__)
def test_defaults_replace_equality_and_hash_work_as_for_a_generated_init(cls: type[Any]) -> None:
    required = {f.name: f"value of {f.name}" for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING}
    reference = _reference(cls)(**required)
    record = cls(**required)
    assert dataclasses.astuple(record) == dataclasses.astuple(reference)
    assert record == cls(**required)
    assert hash(record) == hash(cls(**required))
    first = dataclasses.fields(cls)[0].name
    changed = dataclasses.replace(record, **{first: "changed"})
    assert getattr(changed, first) == "changed"
    assert changed != record


@pytest.mark.parametrize("cls", PLAIN, ids=lambda cls: cls.__name__)
def test_a_plain_init_record_is_a_plain_slotted_instance_of_its_class(cls: type[Any]) -> None:
    record = cls(*(f"value of {f.name}" for f in dataclasses.fields(cls)))
    assert type(record) is cls
    assert not hasattr(record, "__dict__")
    assert pickle.loads(pickle.dumps(record)) == record


def test_a_work_record_keeps_its_defaults() -> None:
    record = WorkRecord("key", "agent", 0, (), "workflow")
    assert (record.status, record.attempts, record.priority, record.tick) == ("pending", 0, 0, None)


def test_factories_keyword_only_fields_and_post_init_work_as_for_a_generated_init() -> None:
    checked: list[int] = []

    @plain_init
    @dataclass(frozen=True, slots=True)
    class Point:
        limit: ClassVar[int] = 10  # not a field
        x: int
        tags: list[str] = field(default_factory=list)
        label: str = field(default="p", kw_only=True)

        def __post_init__(self) -> None:
            checked.append(self.x)

    first, second = Point(1), Point(2, ["a"], label="q")
    assert (first.tags, first.label, second.tags, second.label) == ([], "p", ["a"], "q")
    assert first.tags is not Point(3).tags  # a new list per instance
    assert checked == [1, 2, 3]
    with pytest.raises(TypeError):
        Point(1, [], "q")  # pyright: ignore[reportCallIssue] - `label` is keyword-only
    assert [p.name for p in inspect.signature(Point).parameters.values()] == ["x", "tags", "label"]


def test_a_field_named_like_the_generated_codes_helpers_does_not_shadow_them() -> None:
    @plain_init
    @dataclass(frozen=True, slots=True)
    class Shadow:
        type: str
        self_: int = 0
        _cls: int = 1
        _set: int = 2

    assert dataclasses.astuple(Shadow("t", 5, 6, 7)) == ("t", 5, 6, 7)
    assert type(Shadow("t")) is Shadow


def test_a_subclass_with_another_layout_is_built_field_by_field() -> None:
    class Annotated(WorkRecord):  # no slots: it has a `__dict__`, so its instances cannot switch classes
        pass

    record = Annotated("key", "agent", 0, (), "workflow", attempts=2)
    assert type(record) is Annotated
    assert (record.key, record.attempts, record.status) == ("key", 2, "pending")
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.key = "other"  # pyright: ignore[reportAttributeAccessIssue]


def test_plain_init_refuses_what_it_cannot_stand_for() -> None:
    @dataclass(frozen=True)
    class Loose:
        value: int

    @dataclass(slots=True)
    class Mutable:
        value: int

    @dataclass(frozen=True, slots=True)
    class Derived:
        value: int = field(init=False, default=0)

    @dataclass(frozen=True, slots=True)
    class WithInitVar:
        value: int
        scale: InitVar[int] = 1

    for cls, message in [
        (Loose, "Loose is not a slotted dataclass"),
        (Mutable, "Mutable is not a frozen dataclass"),
        (Derived, "Derived has fields that are not __init__ parameters"),
        (WithInitVar, "WithInitVar has __init__ parameters that are not fields"),
        (int, "int is not a frozen dataclass"),
    ]:
        with pytest.raises(TypeError, match=message):
            plain_init(cls)
