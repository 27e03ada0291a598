"""`flock evaluate MODULE:TASK`: score one split of a task, with progress, per-agent credit and a report."""

from __future__ import annotations

import argparse
import sys

import anyio

from .._learning._task import SplitName
from ._optimize import add_common_arguments, score, write_report
from ._report import CommandReport, agent_rows, learned_rows
from ._target import load_task
from ._watch import Watch

__all__ = ["configure_evaluate"]


def configure_evaluate(parser: argparse.ArgumentParser) -> None:
    """Register the arguments of `flock evaluate` (the `flock_core.commands` entry point `evaluate`)."""
    add_common_arguments(parser, "evaluate-report.html")
    parser.add_argument(
        "--manifest", metavar="FILE", help="import this manifest's learned state first (its declarations must match)"
    )
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    return anyio.run(_evaluate, args)


async def _evaluate(args: argparse.Namespace) -> int:
    task = load_task(args.target)
    if args.manifest:
        from ._manifest import read_into

        read_into(task.flock, args.manifest)
    split: SplitName = args.split or task.default_split
    concurrency = args.concurrency or task.options.concurrency
    with Watch(args.progress, label="flock evaluate", stream=sys.stderr) as watch:
        report, spent = await score(task, split, watch, f"scoring {split}", concurrency)
    learned = dict(task.flock.learned)
    write_report(
        CommandReport(
            command="evaluate",
            target=args.target,
            split=split,
            examples=len(report.results),
            after=report.score,
            agents=agent_rows(report),
            evaluation=spent,
            learned=learned_rows(learned, learned),
        ),
        args,
    )
    return 0
