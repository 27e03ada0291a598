"""The `flock` command line: run a script, list a Flock's types and agents."""

from __future__ import annotations

import argparse
import importlib
import runpy
import sys
from collections.abc import Sequence

from ._flock import Flock
from ._version import __version__

__all__ = ["main"]


def load_flock(target: str) -> Flock:
    """Import `module:attribute` and return the `Flock` it names."""
    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        raise SystemExit(f"flock: expected module:attribute, got {target!r}")
    sys.path.insert(0, ".")
    obj = getattr(importlib.import_module(module_name), attribute, None)
    if not isinstance(obj, Flock):
        raise SystemExit(f"flock: {target} is not a Flock (got {type(obj).__name__})")
    return obj


def _types(args: argparse.Namespace) -> int:
    flock = load_flock(args.target)
    for name in flock.registry:
        print(name)
    return 0


def _agents(args: argparse.Namespace) -> int:
    flock = load_flock(args.target)
    for spec in flock.agents.values():
        consumes = " | ".join(" & ".join(s.types) for s in spec.subscriptions) or "-"
        publishes = "; ".join(f"{', '.join(g.types)} ({g.fan_out.describe()})" for g in spec.output_groups) or "-"
        print(f"{spec.name}: consumes {consumes} -> publishes {publishes}")
    return 0


def _run(args: argparse.Namespace) -> int:
    sys.argv = [args.script, *args.args]
    runpy.run_path(args.script, run_name="__main__")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="flock", description="Typed multi-agent workflows on a blackboard.")
    parser.add_argument("--version", action="version", version=f"flockboard {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run a Python script that declares and runs a Flock")
    run.add_argument("script")
    run.add_argument("args", nargs=argparse.REMAINDER)
    run.set_defaults(handler=_run)
    for name, handler, text in [
        ("types", _types, "list the registered artifact types of module:flock"),
        ("agents", _agents, "list the agents of module:flock with what they consume and publish"),
    ]:
        command = commands.add_parser(name, help=text)
        command.add_argument("target", help="module:attribute naming a Flock")
        command.set_defaults(handler=handler)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `flock` console script."""
    args = _parser().parse_args(argv)
    return int(args.handler(args))
