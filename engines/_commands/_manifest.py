"""`flock manifest export|check|diff`: a workflow's declarations and learned state as one reviewable JSON file."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from flock_core import Flock

from .._learning._manifest import diff_manifests, export_manifest, import_manifest, read_manifest, write_manifest
from ._target import load_flock

__all__ = ["configure_manifest", "read_into", "write_manifest"]


def read_into(flock: Flock, path: str) -> None:
    """Import the manifest at `path` into `flock` (its declarations must match)."""
    import_manifest(flock, read_manifest(path))


def _export(args: argparse.Namespace) -> int:
    flock = load_flock(args.target)
    if args.output:
        write_manifest(flock, args.output)
        print(f"wrote the manifest of {args.target} to {args.output}", file=sys.stderr)
    else:
        print(json.dumps(export_manifest(flock), indent=2, sort_keys=True, ensure_ascii=False))
    return 0


def _check(args: argparse.Namespace) -> int:
    flock = load_flock(args.target)
    read_into(flock, args.manifest)
    groups = len(flock.learned)
    print(f"{args.manifest} matches the declarations of {args.target} ({groups} output groups with learned state)")
    return 0


def _diff(args: argparse.Namespace) -> int:
    before = read_manifest(args.before) if Path(args.before).exists() else export_manifest(load_flock(args.before))
    after = read_manifest(args.after) if Path(args.after).exists() else export_manifest(load_flock(args.after))
    changes = diff_manifests(before, after)
    for change in changes:
        print(change.describe())
    return 1 if changes else 0


def configure_manifest(parser: argparse.ArgumentParser) -> None:
    """Register `flock manifest` and its actions (the `flock_core.commands` entry point `manifest`)."""
    actions = parser.add_subparsers(dest="action", required=True, title="actions", metavar="ACTION")
    export = actions.add_parser("export", help="print (or write) the manifest of MODULE:FLOCK")
    export.add_argument("target", metavar="MODULE:FLOCK", help="a Flock or an engines.LearningTask")
    export.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of standard output")
    export.set_defaults(handler=_export)
    check = actions.add_parser("check", help="import FILE into MODULE:FLOCK: fail if the declarations differ")
    check.add_argument("target", metavar="MODULE:FLOCK", help="a Flock or an engines.LearningTask")
    check.add_argument("manifest", metavar="FILE", help="a manifest file")
    check.set_defaults(handler=_check)
    diff = actions.add_parser("diff", help="what changed between two manifests (exit status 1 if anything did)")
    diff.add_argument("before", metavar="BEFORE", help="a manifest file, or MODULE:FLOCK")
    diff.add_argument("after", metavar="AFTER", help="a manifest file, or MODULE:FLOCK")
    diff.set_defaults(handler=_diff)
