"""Artifacts the framework builds: the same as validated ones, immutable, sharing only immutable parts."""

from __future__ import annotations

from datetime import UTC, datetime

import pydantic
import pytest
from pydantic import BaseModel

from flock_core import Artifact, Flock, PrivateVisibility, PublicVisibility
from flock_core.blackboard._artifacts import build_artifact
from flock_core.testing import FunctionEngine

pytestmark = pytest.mark.anyio


class Note(BaseModel):
    text: str


def _built(**changes: object) -> Artifact:
    values: dict[str, object] = {
        "type_name": "Note",
        "payload": {"text": "hi"},
        "produced_by": "external",
        "correlation_id": "c1",
        "partition_key": None,
        "tags": frozenset(),
        "visibility": None,
        "created_at": datetime(2026, 1, 1, tzinfo=UTC),
        "consumed_from": (),
        "trace_context": {},
    }
    return build_artifact(**{**values, **changes})  # pyright: ignore[reportArgumentType]


def test_a_built_artifact_equals_its_validated_copy() -> None:
    built = _built(tags=frozenset({"a"}), visibility=PrivateVisibility(agents=frozenset({"x"})))
    validated = Artifact.model_validate(built.model_dump())
    assert validated == built
    assert validated.model_dump_json() == built.model_dump_json()
    assert built.version == 1
    assert built.id.version == 7


def test_built_artifacts_are_immutable_and_share_only_immutable_parts() -> None:
    first, second = _built(), _built()
    assert first.visibility is second.visibility
    assert isinstance(first.visibility, PublicVisibility)
    assert first.tags is second.tags == frozenset()
    assert first.payload is not second.payload
    assert first.trace_context is not second.trace_context
    with pytest.raises(pydantic.ValidationError):
        first.type = "Other"  # pyright: ignore[reportAttributeAccessIssue]
    copy = first.model_copy(update={"produced_by": "agent"})
    assert copy.produced_by == "agent"
    assert first.produced_by == "external"
    assert "produced_by" in second.model_fields_set


async def test_published_artifacts_share_public_visibility_and_keep_their_own_payload() -> None:
    flock = Flock(engine=FunctionEngine(lambda request: []))
    flock.register_type(Note)
    a = await flock.publish(Note(text="a"))
    b = await flock.publish(Note(text="b"), tags=["x"])
    assert a.visibility is b.visibility
    assert (a.payload, b.payload, b.tags) == ({"text": "a"}, {"text": "b"}, frozenset({"x"}))
    assert a.correlation_id != b.correlation_id
