"""Checkpoints and the JSON form of learned state round-trip exactly."""

from __future__ import annotations

from pathlib import Path

import pytest

from engines import TrialRecord
from engines._learning._checkpoint import CHECKPOINT_FILE, Checkpoint
from engines._learning._codec import decode_state, encode_state
from flock_core import Demo, LearnedState, Usage
from flock_core.exceptions import ConfigurationError

DEMO = Demo(inputs=(("Q", {"text": "ü", "n": [1, 2.5, None]}),), outputs=(("A", {"ok": True}),))


def test_learned_state_round_trips() -> None:
    state = LearnedState(demos=(DEMO, DEMO), instructions="Do it.", metadata={"score": 0.75})
    assert decode_state(encode_state(state)) == state
    assert decode_state(encode_state(LearnedState())) == LearnedState()


def test_a_checkpoint_round_trips(tmp_path: Path) -> None:
    checkpoint = Checkpoint(
        "fp",
        initial={("a", 0): LearnedState(instructions="x")},
        pool={("a", 0): [DEMO], ("b", 1): []},
        proposals={("a", 0): ["Be brief."]},
        compiled={("a", 0): LearnedState(demos=(DEMO,))},
        trials=[TrialRecord(0, "bootstrap", "training set", 0.5, 6, Usage(10, 2, 3))],
        spent=Usage(10, 2, 3),
        most={"run": Usage(5, 1, 2)},
    )
    checkpoint.save(tmp_path)
    assert Checkpoint.load(tmp_path, "fp") == checkpoint
    assert not (tmp_path / "checkpoint.json.tmp").exists()
    with pytest.raises(ConfigurationError, match="different optimization"):
        Checkpoint.load(tmp_path, "other")
    assert Checkpoint.load(tmp_path / "empty", "fp") is None
    (tmp_path / CHECKPOINT_FILE).write_text('{"format": "x"}')
    with pytest.raises(ConfigurationError, match="not an optimization checkpoint"):
        Checkpoint.load(tmp_path, "fp")
    (tmp_path / CHECKPOINT_FILE).write_text("{truncated")
    with pytest.raises(ConfigurationError, match="cannot read"):
        Checkpoint.load(tmp_path, "fp")
