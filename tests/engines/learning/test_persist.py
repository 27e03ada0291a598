"""Saving and loading learned state: exact reproduction, and what no longer matches a changed declaration."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import BaseModel

from engines import Mismatch, OptimizeOptions, aevaluate, aoptimize, load_learned, save_learned
from flock_core import Demo, Flock, LearnedState
from flock_core.exceptions import ConfigurationError
from flock_core.testing import FunctionEngine

from .conftest import Answer, Label, Support, Ticket, right_answer


@pytest.mark.anyio
async def test_a_saved_state_reproduces_the_optimized_behaviour_exactly(support: Support, tmp_path: Path) -> None:
    optimized = support.build()
    await aoptimize(optimized, support.trainset, right_answer, OptimizeOptions(max_demos=2))
    path = tmp_path / "learned.json"
    save_learned(optimized, path)

    fresh = support.build()
    report = load_learned(fresh, path)
    assert report.ok
    assert sorted(report.loaded) == [("responder", 0), ("triage", 0)]
    assert fresh.learned == optimized.learned

    start = len(support.server.requests)
    first = await aevaluate(optimized, support.devset, right_answer, concurrency=1)
    middle = len(support.server.requests)
    second = await aevaluate(fresh, support.devset, right_answer, concurrency=1)
    assert [r.output for r in first.results] == [r.output for r in second.results]
    assert first.score == second.score == 1.0
    prompts = [r.messages for r in support.server.requests]
    assert prompts[start:middle] == prompts[middle:]  # the very same prompts, demo for demo


def _flock(
    *, triage_out: type[BaseModel] = Label, responder: bool = True, triage_in: type[BaseModel] = Ticket
) -> Flock:
    flock = Flock(engine=FunctionEngine(lambda request: []))
    for model in (Ticket, Label, Answer):
        flock.register_type(model)
    flock.agent("triage").consumes(triage_in).publishes(triage_out)
    if responder:
        flock.agent("responder").consumes(Label).publishes(Answer)
    return flock


STATE = LearnedState(
    demos=(Demo(inputs=(("Ticket", {"text": "hi"}),), outputs=(("Label", {"name": "OTHER"}),)),),
    instructions="Label it.",
    metadata={"score": 0.5},
)


def test_loading_into_changed_declarations_reports_what_no_longer_matches(tmp_path: Path) -> None:
    path = tmp_path / "learned.json"
    original = _flock()
    original.learned["triage", 0] = STATE
    original.learned["responder", 0] = LearnedState(instructions="Reply.")
    save_learned(original, path)

    assert load_learned(_flock(), path).ok
    changed = _flock(triage_out=Answer, responder=False)
    report = load_learned(changed, path)
    assert report.loaded == ()
    assert report.skipped == (
        Mismatch("responder", 0, "unknown_agent", "no agent named 'responder' is declared"),
        Mismatch("triage", 0, "output_types_changed", "saved for ['Label'], declared ['Answer']"),
    )
    assert changed.learned == {}

    inputs_changed = _flock(triage_in=Answer)
    report = load_learned(inputs_changed, path)
    assert report.loaded == (("responder", 0),)
    assert [(m.agent, m.reason) for m in report.skipped] == [("triage", "declaration_changed")]


def test_a_group_that_no_longer_exists_is_skipped(tmp_path: Path) -> None:
    two_groups = Flock(engine=FunctionEngine(lambda request: []))
    for model in (Ticket, Label, Answer):
        two_groups.register_type(model)
    two_groups.agent("triage").consumes(Ticket).publishes(Label).publishes(Answer)
    two_groups.learned["triage", 1] = LearnedState(instructions="Answer too.")
    two_groups.learned["gone", 0] = LearnedState(instructions="never saved: no such agent")
    path = tmp_path / "learned.json"
    save_learned(two_groups, path)
    document = json.loads(path.read_text())
    assert document["format"] == "flock.learned/1"
    assert list(document["agents"]) == ["triage"]
    assert document["agents"]["triage"]["1"]["output_types"] == ["Answer"]

    report = load_learned(_flock(), path)
    assert report.skipped == (Mismatch("triage", 1, "group_out_of_range", "'triage' declares 1 output group(s)"),)


def test_the_file_round_trips_exactly(tmp_path: Path) -> None:
    flock = _flock()
    flock.learned["triage", 0] = STATE
    path = tmp_path / "learned.json"
    save_learned(flock, path)
    other = _flock()
    load_learned(other, str(path))
    assert other.learned["triage", 0] == STATE


def test_a_file_that_is_not_learned_state_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "something else"}')
    with pytest.raises(ConfigurationError, match="not a learned-state file"):
        load_learned(_flock(), bad)
    with pytest.raises(ConfigurationError, match="cannot read"):
        load_learned(_flock(), tmp_path / "missing.json")
