"""The records whose `__init__` is written by hand for speed behave as their dataclass's own would.

`Commit`, `WorkRecord`, `EvaluationRequest` and `ArtifactQuery` replace the generated `__init__` of a frozen
dataclass (see `flock_core._records.unfrozen`). A field added to one of them without its `__init__`, or an
assignment to the wrong field, must fail here, not as a value landing in the wrong field.
"""

from __future__ import annotations

import dataclasses
import inspect
import pickle
from typing import Any

import pytest

from flock_core._records import thaw, unfrozen
from flock_core.agents._engine import EvaluationRequest
from flock_core.blackboard._store import ArtifactQuery
from flock_core.blackboard._work import Commit, WorkRecord

RECORDS = [Commit, WorkRecord, EvaluationRequest, ArtifactQuery]


@pytest.mark.parametrize("cls", RECORDS, ids=lambda cls: cls.__name__)
def test_init_takes_the_fields_in_order_with_their_defaults(cls: type[Any]) -> None:
    parameters = list(inspect.signature(cls.__init__).parameters.values())[1:]
    fields = [f for f in dataclasses.fields(cls) if f.init]
    assert [p.name for p in parameters] == [f.name for f in fields]
    for parameter, field in zip(parameters, fields, strict=True):
        assert parameter.default == (inspect.Parameter.empty if field.default is dataclasses.MISSING else field.default)


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
def test_replace_equality_and_hash_work_as_for_a_generated_init(cls: type[Any]) -> None:
    first = dataclasses.fields(cls)[0].name
    values = {f.name: f"value of {f.name}" for f in dataclasses.fields(cls)}
    record = cls(**values)
    assert record == cls(**values)
    assert hash(record) == hash(cls(**values))
    changed = dataclasses.replace(record, **{first: "changed"})
    assert getattr(changed, first) == "changed"
    assert changed != record


def test_a_work_record_pickles_and_keeps_its_defaults() -> None:
    record = WorkRecord("key", "agent", 0, (), "workflow")
    assert (record.status, record.attempts, record.priority, record.tick) == ("pending", 0, 0, None)
    assert pickle.loads(pickle.dumps(record)) == record


@pytest.mark.parametrize("cls", [WorkRecord, EvaluationRequest, ArtifactQuery], ids=lambda cls: cls.__name__)
def test_a_record_built_through_its_unfrozen_twin_is_a_plain_instance_of_its_class(cls: type[Any]) -> None:
    record = cls(*(f"value of {f.name}" for f in dataclasses.fields(cls)))
    assert type(record) is cls
    assert not hasattr(record, "__dict__")
    assert cls.__slots__ == unfrozen(cls).__slots__


def test_a_subclass_with_another_layout_is_built_field_by_field() -> None:
    class Annotated(WorkRecord):  # no slots: it has a `__dict__`, so its instances cannot switch classes
        pass

    record = Annotated("key", "agent", 0, (), "workflow", attempts=2)
    assert type(record) is Annotated
    assert (record.key, record.attempts, record.status) == ("key", 2, "pending")
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.key = "other"  # pyright: ignore[reportAttributeAccessIssue]


def test_unfrozen_refuses_a_class_that_is_not_a_slotted_dataclass() -> None:
    @dataclasses.dataclass(frozen=True)
    class Loose:
        value: int

    with pytest.raises(TypeError, match="Loose is not a slotted dataclass"):
        unfrozen(Loose)


def test_thaw_switches_a_new_instance_to_the_twin_until_its_class_is_assigned_back() -> None:
    @dataclasses.dataclass(frozen=True, slots=True)
    class Pair:
        left: int
        right: int

    twin = unfrozen(Pair)
    pair = object.__new__(Pair)
    fields = thaw(pair, twin)
    assert type(fields) is twin
    fields.left, fields.right = 1, 2
    fields.__class__ = Pair
    assert pair == Pair(1, 2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        pair.left = 3  # pyright: ignore[reportAttributeAccessIssue]
