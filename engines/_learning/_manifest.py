"""Programs as data: one JSON manifest of a workflow's declarations and learned state; export, import, diff.

A manifest is what a review needs and what a deployment loads: for each agent its description, what it
consumes (types, and how many `where=` filters: code is not data, so only their number is recorded), what
it publishes (types, fan-out, group description), its tools and labels; the JSON schema of every type
those name; and each output group's learned state (instructions, demos, metadata). `schema_version`
says how to read it. Importing it into a Flock whose declarations differ raises `ManifestMismatchError`
naming the agent and the field, before anything is applied.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from flock_core import AgentSpec, Flock
from flock_core.exceptions import ConfigurationError, ManifestMismatchError

from ._codec import decode_state, encode_state

__all__ = [
    "MANIFEST_FORMAT",
    "MANIFEST_SCHEMA_VERSION",
    "ManifestChange",
    "diff_manifests",
    "export_manifest",
    "import_manifest",
    "read_manifest",
    "write_manifest",
]

MANIFEST_FORMAT = "flock.manifest"
MANIFEST_SCHEMA_VERSION = 1

Manifest = dict[str, Any]


def _declaration(spec: AgentSpec) -> dict[str, Any]:
    return {
        "description": spec.description,
        "consumes": [
            {
                "types": list(s.types),
                "filters": len(s.where),
                "from_agents": sorted(s.from_agents) if s.from_agents is not None else None,
                "tags": sorted(s.tags) if s.tags is not None else None,
            }
            for s in spec.subscriptions
        ],
        "publishes": [
            {
                "types": list(g.types),
                "fan_out": [g.fan_out.low, g.fan_out.maximum],
                "description": g.description,
                "filters": len(g.where),
            }
            for g in spec.output_groups
        ],
        "tools": sorted(getattr(tool, "__name__", repr(tool)) for tool in spec.tools),
        "labels": sorted(spec.labels),
    }


def _types_of(spec: AgentSpec) -> set[str]:
    return {t for s in spec.subscriptions for t in s.types} | {t for g in spec.output_groups for t in g.types}


def export_manifest(flock: Flock) -> Manifest:
    """The manifest of `flock`: its agents' declarations, the schemas of their types, and `flock.learned`.

    The result is JSON-compatible and deterministic (sorted keys), so two exports of the same workflow are equal.
    """
    agents: dict[str, Any] = {}
    type_names: set[str] = set()
    for name, spec in sorted(flock.agents.items()):
        type_names |= _types_of(spec)
        learned = {
            str(index): encode_state(state)
            for (agent, index), state in sorted(flock.learned.items())
            if agent == name and index < len(spec.output_groups)
        }
        agents[name] = {**_declaration(spec), "learned": learned}
    types = {name: flock.registry.resolve(name).model_json_schema() for name in sorted(type_names)}
    return {"format": MANIFEST_FORMAT, "schema_version": MANIFEST_SCHEMA_VERSION, "types": types, "agents": agents}


def write_manifest(flock: Flock, path: str | Path) -> None:
    """Write `export_manifest(flock)` to `path` as indented JSON."""
    text = json.dumps(export_manifest(flock), indent=2, sort_keys=True, ensure_ascii=False)
    Path(path).write_text(text + "\n", encoding="utf-8")


def read_manifest(path: str | Path) -> Manifest:
    """Read a manifest file.

    Raises:
        ConfigurationError: the file cannot be read, is not a manifest, or has a newer schema version.
    """
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"cannot read the manifest {str(path)!r}: {exc}", setting="manifest") from exc
    return _checked(data, str(path))


def _checked(data: object, where: str) -> Manifest:
    if not isinstance(data, dict) or cast(Manifest, data).get("format") != MANIFEST_FORMAT:
        raise ConfigurationError(f"{where} is not a workflow manifest (format {MANIFEST_FORMAT!r})", setting="manifest")
    manifest = cast(Manifest, data)
    version = manifest.get("schema_version")
    if version != MANIFEST_SCHEMA_VERSION:
        raise ConfigurationError(
            f"{where} has manifest schema version {version!r}; this flockboard reads version {MANIFEST_SCHEMA_VERSION}",
            setting="manifest",
        )
    return manifest


def import_manifest(flock: Flock, manifest: Mapping[str, Any] | str | Path) -> None:
    """Check that `manifest` describes `flock`'s declarations, then set `flock.learned` to its learned state.

    The learned state of every agent is replaced (a group without an entry learns nothing); nothing is
    applied when a check fails.

    Raises:
        ManifestMismatchError: an agent, a declaration field or a type's schema differs (the first found,
            in agent order).
        ConfigurationError: `manifest` is not a manifest, or has another schema version.
    """
    data = read_manifest(manifest) if isinstance(manifest, (str, Path)) else _checked(dict(manifest), "the manifest")
    agents = cast(dict[str, dict[str, Any]], data["agents"])
    declared = export_manifest(flock)
    for name in sorted({*agents, *flock.agents}):
        _check_agent(name, agents.get(name), declared["agents"].get(name), data["types"], declared["types"])
    flock.learned.clear()
    for name, entry in agents.items():
        for index, state in cast(dict[str, Any], entry["learned"]).items():
            flock.learned[name, int(index)] = decode_state(state)


def _check_agent(
    name: str,
    ours: Mapping[str, Any] | None,
    theirs: Mapping[str, Any] | None,
    our_types: Mapping[str, Any],
    their_types: Mapping[str, Any],
) -> None:
    if ours is None or theirs is None:
        raise ManifestMismatchError(
            name, "agent", manifest="present" if ours else None, declared="present" if theirs else None
        )
    for key in ("description", "consumes", "tools", "labels"):
        if ours.get(key) != theirs.get(key):
            raise ManifestMismatchError(name, key, manifest=_text(ours.get(key)), declared=_text(theirs.get(key)))
    ours_groups, theirs_groups = ours["publishes"], theirs["publishes"]
    if len(ours_groups) != len(theirs_groups):
        raise ManifestMismatchError(
            name, "publishes", manifest=f"{len(ours_groups)} groups", declared=f"{len(theirs_groups)} groups"
        )
    for index, (mine, declared) in enumerate(zip(ours_groups, theirs_groups, strict=True)):
        for key in ("types", "fan_out", "description", "filters"):
            if mine.get(key) != declared.get(key):
                field = f"publishes[{index}].{key}"
                raise ManifestMismatchError(
                    name, field, manifest=_text(mine.get(key)), declared=_text(declared.get(key))
                )
    for index in cast(dict[str, Any], ours.get("learned", {})):
        if int(index) >= len(theirs_groups):
            raise ManifestMismatchError(name, f"learned[{index}]", manifest="learned state", declared=None)
    names = {t for s in theirs["consumes"] for t in s["types"]} | {t for g in theirs_groups for t in g["types"]}
    for type_name in sorted(names):
        if our_types.get(type_name) != their_types.get(type_name):
            raise ManifestMismatchError(
                name,
                f"schema of {type_name}",
                manifest=_text(our_types.get(type_name)),
                declared=_text(their_types.get(type_name)),
            )


def _text(value: object, chars: int = 200) -> str:
    text = json.dumps(value, sort_keys=True, ensure_ascii=False)
    return text if len(text) <= chars else text[: chars - 1] + "…"


@dataclass(frozen=True, slots=True)
class ManifestChange:
    """One difference between two manifests.

    Attributes:
        path: where, as dotted keys (`agents.triage.learned.0.instructions`, `types.Ticket`, ...).
        before: the first manifest's value (`None`: absent).
        after: the second manifest's value (`None`: absent).
    """

    path: str
    before: Any
    after: Any

    def describe(self) -> str:
        """One line: `+ path: after`, `- path: before`, or `~ path: before -> after` (long values shortened)."""
        if self.before is None:
            return f"+ {self.path}: {_text(self.after, 160)}"
        if self.after is None:
            return f"- {self.path}: {_text(self.before, 160)}"
        return f"~ {self.path}: {_text(self.before, 120)} -> {_text(self.after, 120)}"


def diff_manifests(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[ManifestChange]:
    """What changed from `before` to `after`, leaf by leaf (demos compared as a list, one change per list)."""
    changes: list[ManifestChange] = []
    _diff("", before, after, changes)
    return changes


def _diff(path: str, before: object, after: object, changes: list[ManifestChange]) -> None:
    if isinstance(before, dict) and isinstance(after, dict):
        left, right = cast(dict[str, Any], before), cast(dict[str, Any], after)
        for key in sorted({*left, *right}):
            _diff(f"{path}.{key}" if path else key, left.get(key), right.get(key), changes)
    elif before != after:
        changes.append(ManifestChange(path, before, after))
