"""Saving what a workflow learned, and loading it back into the same (or a changed) declaration.

The file is JSON, keyed by agent and output group. Each group records its output types and a
fingerprint of its declaration (the agent's input types, the group's output types and fan-out), so
that loading into changed declarations can say what no longer matches instead of guessing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

from flock_core import AgentSpec, Flock
from flock_core.exceptions import ConfigurationError

from ._codec import decode_state, encode_state
from ._traces import GroupKey

__all__ = ["FORMAT", "LoadReport", "Mismatch", "MismatchReason", "group_fingerprint", "load_learned", "save_learned"]

FORMAT = "flock.learned/1"

MismatchReason = Literal["unknown_agent", "group_out_of_range", "output_types_changed", "declaration_changed"]
"""Why a saved entry was not loaded: the agent is gone, it has fewer output groups, the group publishes
other types, or its inputs or fan-out changed."""


@dataclass(frozen=True, slots=True)
class Mismatch:
    """A saved entry that no longer matches the declarations, and was skipped."""

    agent: str
    group_index: int
    reason: MismatchReason
    detail: str


@dataclass(frozen=True, slots=True)
class LoadReport:
    """What `load_learned` did.

    Attributes:
        loaded: the `(agent, group index)` entries now in `flock.learned`, as saved.
        skipped: the entries that no longer match the declarations (not loaded).
    """

    loaded: tuple[GroupKey, ...]
    skipped: tuple[Mismatch, ...]

    @property
    def ok(self) -> bool:
        """Whether every saved entry was loaded."""
        return not self.skipped


def group_fingerprint(spec: AgentSpec, group_index: int) -> str:
    """A digest of what one output group's demos depend on: the agent's input types, the group's types and fan-out.

    >>> from pydantic import BaseModel
    >>> from flock_core import OutputGroup
    >>> class Note(BaseModel):
    ...     text: str
    >>> spec = AgentSpec("a", output_groups=(OutputGroup(("Note",), (Note,)),))
    >>> len(group_fingerprint(spec, 0))
    16
    """
    group = spec.output_groups[group_index]
    text = repr((sorted(spec.consumed_types), group.types, group.fan_out.low, group.fan_out.high))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def save_learned(flock: Flock, path: str | Path) -> None:
    """Write `flock.learned` to `path` as JSON (entries of agents that are no longer declared are left out)."""
    agents: dict[str, dict[str, Any]] = {}
    for (agent, index), state in sorted(flock.learned.items()):
        spec = flock.agents.get(agent)
        if spec is None or index >= len(spec.output_groups):
            continue
        groups = agents.setdefault(agent, {})
        groups[str(index)] = {
            "output_types": list(spec.output_groups[index].types),
            "fingerprint": group_fingerprint(spec, index),
            "state": encode_state(state),
        }
    document = {"format": FORMAT, "agents": agents}
    Path(path).write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def load_learned(flock: Flock, path: str | Path) -> LoadReport:
    """Load the learned state saved at `path` into `flock.learned`; entries that no longer match are skipped.

    Each loaded entry replaces the state of its `(agent, group)`; other entries of `flock.learned` stay.

    Raises:
        ConfigurationError: the file is not a saved learned state.
    """
    document = _read(Path(path))
    loaded: list[GroupKey] = []
    skipped: list[Mismatch] = []
    for agent, groups in cast(dict[str, dict[str, Any]], document["agents"]).items():
        for key, entry in groups.items():
            index = int(key)
            mismatch = _mismatch(flock.agents.get(agent), agent, index, entry)
            if mismatch is not None:
                skipped.append(mismatch)
                continue
            flock.learned[agent, index] = decode_state(cast(Mapping[str, Any], entry["state"]))
            loaded.append((agent, index))
    return LoadReport(tuple(loaded), tuple(skipped))


def _read(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"cannot read learned state from {str(path)!r}: {exc}") from exc
    if not isinstance(document, dict) or cast(dict[str, Any], document).get("format") != FORMAT:
        raise ConfigurationError(f"{str(path)!r} is not a learned-state file (format {FORMAT!r})")
    return cast(dict[str, Any], document)


def _mismatch(spec: AgentSpec | None, agent: str, index: int, entry: Mapping[str, Any]) -> Mismatch | None:
    if spec is None:
        return Mismatch(agent, index, "unknown_agent", f"no agent named {agent!r} is declared")
    if index >= len(spec.output_groups):
        groups = len(spec.output_groups)
        return Mismatch(agent, index, "group_out_of_range", f"{agent!r} declares {groups} output group(s)")
    saved = tuple(cast(list[str], entry["output_types"]))
    current = spec.output_groups[index].types
    if saved != current:
        return Mismatch(agent, index, "output_types_changed", f"saved for {list(saved)}, declared {list(current)}")
    if entry["fingerprint"] != group_fingerprint(spec, index):
        detail = "the agent's input types or the group's fan-out changed since the state was saved"
        return Mismatch(agent, index, "declaration_changed", detail)
    return None
