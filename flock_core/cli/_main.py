"""The `flock` command line: run a script, list a Flock's types and agents, read traces, draw graphs.

The commands' descriptions and examples are in `_help`; `run`, `serve` and `worker` are in their own modules,
and `load_flock` (shared by the commands that take `MODULE:FLOCK`) in `_load`.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from .._version import __version__
from ..exceptions import UserError
from ..observe._commands import GRAPH_FORMATS, format_for, graph_text, trace_text
from ._commands import Subcommands
from ._control import add_control_commands
from ._dead_letters import add_dead_letters_command
from ._help import describe
from ._load import load_flock
from ._plugins import PROVIDED, add_provided_command
from ._run import add_run_command
from ._serve import add_serve_command
from ._worker import add_worker_command

__all__ = ["main"]


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


def _trace(args: argparse.Namespace) -> int:
    limit: int | None = getattr(args, "limit", None) or None
    trace_id: str | None = getattr(args, "trace_id", None)
    print(trace_text(args.action, args.file, trace_id=trace_id, limit=limit, as_json=args.json))
    return 0


def _graph(args: argparse.Namespace) -> int:
    fmt = format_for(args.format, args.output)
    text = graph_text(
        load_flock,
        target=args.target,
        store_path=args.store,
        correlation_id=args.correlation,
        declared=args.declared,
        fmt=fmt,
    )
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"wrote {fmt} graph to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def _add_trace(commands: Subcommands) -> None:
    trace = commands.add_parser("trace", help="read a trace file written by flock_core.tracing.configure(file=...)")
    actions = trace.add_subparsers(dest="action", required=True, title="actions", metavar="ACTION")
    listing = actions.add_parser("list", help="one line per run (trace), newest first")
    show = actions.add_parser("show", help="the span tree of one run, with durations, tokens and errors")
    summary = actions.add_parser("summary", help="per agent, model and tool: count, p50/p95 latency, tokens, errors")
    for action in (listing, show, summary):
        action.add_argument("file", metavar="FILE", help="the trace file")
        action.add_argument("--json", action="store_true", help="print JSON for machines")
        action.set_defaults(handler=_trace)
    listing.add_argument(
        "--limit", type=int, default=20, metavar="N", help="how many runs to show (0: all; default 20)"
    )
    show.add_argument("trace_id", metavar="TRACE_ID", help="a trace id or a unique prefix of one")
    summary.add_argument("--trace", dest="trace_id", metavar="TRACE_ID", help="only this run")


def _add_graph(commands: Subcommands) -> None:
    graph = commands.add_parser(
        "graph", help="draw the lineage of what ran (artifacts and activations) or the declared agent wiring"
    )
    graph.add_argument("target", nargs="?", metavar="MODULE:FLOCK", help="module:attribute naming a Flock")
    graph.add_argument("--store", metavar="FILE", help="read the lineage from this SQLite store file")
    graph.add_argument("--correlation", metavar="ID", help="only this workflow (correlation id)")
    graph.add_argument("--declared", action="store_true", help="draw who can feed whom instead of what ran")
    graph.add_argument(
        "--format", choices=GRAPH_FORMATS, help="the output format (default: from the -o suffix, else mermaid)"
    )
    graph.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of standard output")
    graph.set_defaults(handler=_graph)


def _parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The parser of every command; a provided command (`_plugins`) loads its provider only if `argv` runs it."""
    parser = argparse.ArgumentParser(prog="flock")
    parser.add_argument("--version", action="version", version=f"flockboard {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, title="commands", metavar="COMMAND")
    add_run_command(commands)
    for name, handler, text in [
        ("types", _types, "list the registered artifact types of MODULE:FLOCK"),
        ("agents", _agents, "list the agents of MODULE:FLOCK with what they consume and publish"),
    ]:
        command = commands.add_parser(name, help=text)
        command.add_argument("target", metavar="MODULE:FLOCK", help="module:attribute naming a Flock")
        command.set_defaults(handler=handler)
    _add_trace(commands)
    _add_graph(commands)
    add_serve_command(commands)
    add_worker_command(commands)
    add_control_commands(commands)
    add_dead_letters_command(commands)
    describe(parser)
    other = argv[0] if argv and not argv[0].startswith("-") and argv[0] not in commands.choices else None
    names: list[str] = [*PROVIDED, *([other] if other else [])]
    for name in dict.fromkeys(names):
        provided = add_provided_command(commands, name, argv)
        if provided is not None and name in PROVIDED:
            describe(provided, name)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `flock` console script.

    A usage mistake (a missing file, a bad MODULE:FLOCK, an unknown trace) prints one line on stderr and
    returns 2, as argparse does for bad arguments. Output cut short by a closed pipe (`| head`) ends quietly.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser(argv).parse_args(argv)
    try:
        return int(args.handler(args))
    except SystemExit as exc:
        if not isinstance(exc.code, str):
            raise
        print(exc.code, file=sys.stderr)
        return 2
    except UserError as exc:
        if args.command == "run":
            raise  # a script's own mistake: its traceback shows the line, as `python script.py` would
        print(f"flock {args.command}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # the reader went away: point stdout at devnull so the interpreter's final flush cannot fail again
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1  # as Python itself does on EPIPE
