"""Workflow manifests: export is deterministic, import checks every declaration field and names what differs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import BaseModel

from engines import (
    MANIFEST_SCHEMA_VERSION,
    diff_manifests,
    export_manifest,
    import_manifest,
    read_manifest,
    write_manifest,
)
from flock_core import Demo, Flock, LearnedState
from flock_core.exceptions import ConfigurationError, ManifestMismatchError
from flock_core.testing import FunctionEngine


class Ticket(BaseModel):
    text: str


class Label(BaseModel):
    name: str


class WiderLabel(BaseModel):
    name: str
    confidence: float = 1.0


def build(*, description: str = "Label it.", fan_out: int = 1, label: type[BaseModel] = Label) -> Flock:
    flock = Flock(engine=FunctionEngine(lambda request: []))  # never runs here
    flock.register_type(Ticket)
    flock.register_type(label, name="Label")
    flock.agent("triage").description(description).consumes(Ticket).publishes(label, fan_out=fan_out)
    return flock


DEMO = Demo(inputs=(("Ticket", {"text": "late"}),), outputs=(("Label", {"name": "eta"}),))


def learned() -> Flock:
    flock = build()
    flock.learned["triage", 0] = LearnedState(demos=(DEMO,), instructions="Label by topic.", metadata={"trial": 3})
    return flock


def test_export_holds_declarations_schemas_learned_state_and_a_schema_version() -> None:
    manifest = export_manifest(learned())
    assert manifest["schema_version"] == MANIFEST_SCHEMA_VERSION
    triage = manifest["agents"]["triage"]
    assert triage["description"] == "Label it."
    assert triage["consumes"] == [{"types": ["Ticket"], "filters": 0, "from_agents": None, "tags": None}]
    assert triage["publishes"][0]["fan_out"] == [1, 1]
    assert triage["learned"]["0"]["instructions"] == "Label by topic."
    assert manifest["types"]["Label"]["properties"] == {"name": {"title": "Name", "type": "string"}}
    assert export_manifest(learned()) == manifest  # deterministic


def test_import_round_trips_the_learned_state(tmp_path: Path) -> None:
    write_manifest(learned(), tmp_path / "m.json")
    fresh = build()
    fresh.learned["triage", 0] = LearnedState(instructions="stale")
    import_manifest(fresh, tmp_path / "m.json")
    assert fresh.learned == learned().learned


@pytest.mark.parametrize(
    ("declared", "field"),
    [
        (build(description="Sort it."), "description"),
        (build(fan_out=3), "publishes[0].fan_out"),
        (build(label=WiderLabel), "schema of Label"),
    ],
)
def test_import_into_other_declarations_names_the_agent_and_field(declared: Flock, field: str) -> None:
    with pytest.raises(ManifestMismatchError) as caught:
        import_manifest(declared, export_manifest(learned()))
    assert (caught.value.agent, caught.value.field) == ("triage", field)
    assert declared.learned == {}  # nothing applied


def test_an_agent_missing_on_either_side_is_a_mismatch() -> None:
    extra = build()
    extra.agent("reply").consumes(Label).publishes(Ticket)
    with pytest.raises(ManifestMismatchError, match="agent 'reply': the manifest's agent") as caught:
        import_manifest(extra, export_manifest(learned()))
    assert (caught.value.manifest, caught.value.declared) == (None, "present")


def test_a_file_of_another_schema_version_is_refused(tmp_path: Path) -> None:
    data = export_manifest(learned())
    (tmp_path / "m.json").write_text(json.dumps({**data, "schema_version": 99}), encoding="utf-8")
    with pytest.raises(ConfigurationError, match="manifest schema version 99"):
        read_manifest(tmp_path / "m.json")
    (tmp_path / "x.json").write_text("{}", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="is not a workflow manifest"):
        read_manifest(tmp_path / "x.json")


def test_diff_names_each_changed_value() -> None:
    changes = diff_manifests(export_manifest(build()), export_manifest(learned()))
    assert [change.path for change in changes] == ["agents.triage.learned.0"]
    assert changes[0].before is None
    assert changes[0].describe().startswith('+ agents.triage.learned.0: {"demos": [{"inputs"')
    renamed = diff_manifests(export_manifest(build()), export_manifest(build(description="Sort it.")))
    assert [c.describe() for c in renamed] == ['~ agents.triage.description: "Label it." -> "Sort it."']
