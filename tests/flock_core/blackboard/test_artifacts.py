"""Tests of `flock_core.blackboard._artifacts`: immutable, typed blackboard records."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from dirty_equals import IsDatetime, IsUUID
from pydantic import BaseModel, ValidationError

from flock_core import AfterVisibility, Artifact, PrivateVisibility, PublicVisibility, WorkflowError
from flock_core._clock import utcnow
from flock_core._ids import new_id


class Movie(BaseModel):
    title: str
    year: int


def test_defaults() -> None:
    before = utcnow()
    artifact = Artifact(type="Movie", payload={"title": "Heat", "year": 1995}, correlation_id="c1")
    after = utcnow()
    assert artifact.model_dump() == {
        "id": IsUUID(),
        "type": "Movie",
        "payload": {"title": "Heat", "year": 1995},
        "produced_by": "external",
        "correlation_id": "c1",
        "partition_key": None,
        "tags": frozenset(),
        "visibility": {"kind": "public"},
        "created_at": IsDatetime(ge=before, le=after),
        "version": 1,
        "consumed_from": (),
        "trace_context": {},
    }
    assert artifact.id.version == 7
    assert artifact.visibility == PublicVisibility()
    assert artifact.created_at.tzinfo is not None
    assert artifact.created_at.utcoffset() == timedelta(0)


def test_default_ids_are_unique_and_ordered() -> None:
    first, second = (Artifact(type="T", payload={}, correlation_id="c") for _ in range(2))
    assert first.id < second.id


def test_utcnow_is_timezone_aware_utc() -> None:
    assert utcnow().tzinfo is UTC


def test_artifacts_are_frozen() -> None:
    artifact = Artifact(type="Movie", payload={}, correlation_id="c1")
    with pytest.raises(ValidationError, match="Instance is frozen"):
        artifact.type = "Other"  # pyright: ignore[reportAttributeAccessIssue]
    assert artifact.type == "Movie"


def test_unknown_fields_are_rejected() -> None:
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        Artifact(type="Movie", payload={}, correlation_id="c1", colour="red")  # pyright: ignore[reportCallIssue]


def test_as_model() -> None:
    artifact = Artifact(type="Movie", payload={"title": "Heat", "year": "1995"}, correlation_id="c1")
    assert artifact.as_model(Movie) == Movie(title="Heat", year=1995)


def test_as_model_validates() -> None:
    artifact = Artifact(type="Movie", payload={"title": "Heat"}, correlation_id="c1")
    with pytest.raises(ValidationError, match="year\n  Field required"):
        artifact.as_model(Movie)


def test_json_round_trip() -> None:
    parent = new_id()
    artifact = Artifact(
        type="Movie",
        payload={"title": "Heat", "year": 1995, "cast": ["De Niro", "Pacino"], "meta": {"rating": 8.3}},
        produced_by="critic",
        correlation_id="c1",
        partition_key="p7",
        tags=frozenset({"crime", "classic"}),
        visibility=AfterVisibility(ttl=timedelta(minutes=5), then=PrivateVisibility(agents=frozenset({"a", "b"}))),
        created_at=datetime(2026, 1, 2, 3, 4, 5, 678_000, tzinfo=UTC),
        version=2,
        consumed_from=(parent,),
        trace_context={"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
    )
    restored = Artifact.model_validate_json(artifact.model_dump_json())
    assert restored == artifact
    assert restored.model_dump() == artifact.model_dump()


def test_json_round_trip_of_defaults() -> None:
    artifact = Artifact(type="Movie", payload={}, correlation_id="c1")
    assert Artifact.model_validate_json(artifact.model_dump_json()) == artifact


def test_workflow_error_defaults() -> None:
    error = WorkflowError(agent="a", error_type="EngineError", message="boom")
    assert error.model_dump() == {
        "agent": "a",
        "error_type": "EngineError",
        "message": "boom",
        "output_group": None,
        "input_ids": [],
        "trace_id": None,
    }
