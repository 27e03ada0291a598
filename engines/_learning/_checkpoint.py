"""Optimization checkpoints: everything needed to resume after the last completed trial, as one JSON file.

The file is rewritten atomically (a temporary file, then a rename) after every completed trial, so it
always holds a consistent state: the starting learned state, the demo pool, the instruction proposals
(or a teleprompter's compiled states, or the state of a `"gepa"` evolution), the completed trials and the
spending so far.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from flock_core import Demo, LearnedState, Usage
from flock_core.exceptions import ConfigurationError

from ._codec import decode_state, decode_usage, encode_state, encode_usage
from ._results import TrialKind, TrialRecord
from ._traces import GroupKey

__all__ = ["CHECKPOINT_FILE", "Checkpoint"]

CHECKPOINT_FILE = "checkpoint.json"
_FORMAT = "flock.optimization/1"


@dataclass(slots=True)
class Checkpoint:
    """The resumable state of one optimization (mutable: it grows trial by trial)."""

    fingerprint: str
    initial: dict[GroupKey, LearnedState] = field(default_factory=dict[GroupKey, LearnedState])
    pool: dict[GroupKey, list[Demo]] | None = None
    proposals: dict[GroupKey, list[str]] | None = None
    compiled: dict[GroupKey, LearnedState] | None = None
    evolution: dict[str, Any] | None = None
    trials: list[TrialRecord] = field(default_factory=list[TrialRecord])
    spent: Usage = field(default_factory=Usage)
    most: dict[str, Usage] = field(default_factory=dict[str, Usage])
    cost: float = 0.0
    most_cost: float = 0.0

    def save(self, run_dir: Path) -> None:
        """Write the checkpoint to `run_dir/checkpoint.json` atomically."""
        run_dir.mkdir(parents=True, exist_ok=True)
        target = run_dir / CHECKPOINT_FILE
        partial = target.with_suffix(".json.tmp")
        partial.write_text(json.dumps(self._encode(), indent=1, ensure_ascii=False), encoding="utf-8")
        os.replace(partial, target)

    @classmethod
    def load(cls, run_dir: Path, fingerprint: str) -> Checkpoint | None:
        """The checkpoint in `run_dir`, or `None` if there is none.

        Raises:
            ConfigurationError: the checkpoint belongs to another optimization (other data or options).
        """
        path = run_dir / CHECKPOINT_FILE
        if not path.exists():
            return None
        try:
            data = cast(dict[str, Any], json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            raise ConfigurationError(f"cannot read the checkpoint {str(path)!r}: {exc}") from exc
        if not isinstance(data, dict) or data.get("format") != _FORMAT:
            raise ConfigurationError(f"{str(path)!r} is not an optimization checkpoint")
        if data["fingerprint"] != fingerprint:
            raise ConfigurationError(
                f"{str(path)!r} is the checkpoint of a different optimization (other examples, agents or "
                "options); use a new run_dir, or delete it to start over"
            )
        return cls(
            fingerprint=fingerprint,
            initial={_key(row): decode_state(row[2]) for row in data["initial"]},
            pool=None if data["pool"] is None else {_key(row): _demos(row[2]) for row in data["pool"]},
            proposals=None if data["proposals"] is None else {_key(row): list(row[2]) for row in data["proposals"]},
            compiled=None
            if data["compiled"] is None
            else {_key(row): decode_state(row[2]) for row in data["compiled"]},
            evolution=data.get("evolution"),
            trials=[_trial(row) for row in data["trials"]],
            spent=decode_usage(data["spent"]),
            most={kind: decode_usage(usage) for kind, usage in data["most"].items()},
            cost=float(data.get("cost", 0.0)),
            most_cost=float(data.get("most_cost", 0.0)),
        )

    def _encode(self) -> dict[str, Any]:
        pool, proposals, compiled = self.pool, self.proposals, self.compiled
        return {
            "format": _FORMAT,
            "fingerprint": self.fingerprint,
            "initial": [[*key, encode_state(state)] for key, state in sorted(self.initial.items())],
            "pool": None if pool is None else [[*key, _encode_demos(pool[key])] for key in sorted(pool)],
            "proposals": None if proposals is None else [[*key, proposals[key]] for key in sorted(proposals)],
            "compiled": None if compiled is None else [[*k, encode_state(s)] for k, s in sorted(compiled.items())],
            "evolution": self.evolution,
            "trials": [_encode_trial(trial) for trial in self.trials],
            "spent": encode_usage(self.spent),
            "most": {kind: encode_usage(usage) for kind, usage in sorted(self.most.items())},
            "cost": self.cost,
            "most_cost": self.most_cost,
        }


def _key(row: Sequence[Any]) -> GroupKey:
    return str(row[0]), int(row[1])


def _encode_demos(demos: Sequence[Demo]) -> list[dict[str, Any]]:
    return cast(list[dict[str, Any]], encode_state(LearnedState(demos=tuple(demos)))["demos"])


def _demos(rows: list[dict[str, Any]]) -> list[Demo]:
    return list(decode_state({"demos": rows}).demos)


def _encode_trial(trial: TrialRecord) -> dict[str, Any]:
    return {
        "index": trial.index,
        "kind": trial.kind,
        "label": trial.label,
        "score": trial.score,
        "runs": trial.runs,
        "usage": encode_usage(trial.usage),
        "cost": trial.cost,
    }


def _trial(row: Mapping[str, Any]) -> TrialRecord:
    score = row["score"]
    return TrialRecord(
        index=int(row["index"]),
        kind=cast(TrialKind, row["kind"]),
        label=str(row["label"]),
        score=None if score is None else float(score),
        runs=int(row["runs"]),
        usage=decode_usage(row["usage"]),
        cost=float(row.get("cost", 0.0)),
    )
