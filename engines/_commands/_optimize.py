"""`flock optimize MODULE:TASK`: score the report split, optimize with progress, score again, report."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

import anyio

from .._learning._budget import Budget
from .._learning._evaluate import EvaluationReport, aevaluate
from .._learning._optimize import OptimizationRun
from .._learning._options import OPTIMIZERS, OptimizeOptions
from .._learning._results import OptimizationResult, OptimizationStatus, TrialRecord
from .._learning._task import LearningTask, SplitName
from .._meter import CallMeter, metering
from ._report import CommandReport, Spent, agent_rows, learned_rows, optimization_fields
from ._target import load_task
from ._watch import WATCH_MODES, Watch

__all__ = ["add_common_arguments", "configure_optimize", "score", "write_report"]

_POLL_SECONDS = 0.2


def add_common_arguments(parser: argparse.ArgumentParser, report: str) -> None:
    """The arguments `optimize` and `evaluate` share."""
    parser.add_argument("target", metavar="MODULE:TASK", help="module:attribute naming an engines.LearningTask")
    parser.add_argument(
        "--split", choices=("train", "dev", "test"), help="the split to score (default: test, else dev, else train)"
    )
    parser.add_argument("--report", default=report, metavar="FILE", help=f"the HTML report (default: {report})")
    parser.add_argument("--json", action="store_true", help="print the report as JSON instead of a summary")
    parser.add_argument("--concurrency", type=int, metavar="N", help="workflow runs in flight at once")
    parser.add_argument(
        "--progress",
        choices=WATCH_MODES,
        default="auto",
        help="auto (live on a terminal, else plain lines), live, plain, off",
    )


def configure_optimize(parser: argparse.ArgumentParser) -> None:
    """Register the arguments of `flock optimize` (the `flock_core.commands` entry point `optimize`)."""
    add_common_arguments(parser, "optimize-report.html")
    parser.add_argument("--optimizer", choices=OPTIMIZERS, help="overrides the task's optimizer")
    parser.add_argument("--max-calls", type=int, metavar="N", help="the most model calls (across resumes)")
    parser.add_argument("--max-tokens", type=int, metavar="N", help="the most input plus output tokens")
    parser.add_argument("--max-cost", type=float, metavar="USD", help="the most US dollars (LiteLLM's bundled prices)")
    parser.add_argument("--run-dir", metavar="DIR", help="checkpoint every trial here; run again to resume")
    parser.add_argument("--save", metavar="FILE", help="write the optimized workflow's manifest (JSON) to FILE")
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    return anyio.run(_optimize, args)


def options_for(task: LearningTask[Any], args: argparse.Namespace) -> OptimizeOptions:
    """The task's options with the command line's overrides."""
    options = task.options
    changes: dict[str, Any] = {}
    if args.optimizer:
        changes["optimizer"] = args.optimizer
    if args.concurrency:
        changes["concurrency"] = args.concurrency
    if args.run_dir:
        changes["run_dir"] = args.run_dir
    limits = {"max_calls": args.max_calls, "max_tokens": args.max_tokens, "max_cost": args.max_cost}
    if any(value is not None for value in limits.values()):
        budget = options.budget or Budget()
        changes["budget"] = dataclasses.replace(budget, **{k: v for k, v in limits.items() if v is not None})
    return dataclasses.replace(options, **changes) if changes else options


async def score(
    task: LearningTask[Any], split: SplitName, watch: Watch, phase: str, concurrency: int
) -> tuple[EvaluationReport[Any], Spent]:
    """Evaluate `split` with a progress phase; the report, and what it spent (each call priced for its model)."""
    examples = task.split(split)
    watch.phase(phase, len(examples))
    budget = task.options.budget
    meter = CallMeter(prices=budget.prices if budget is not None else None)
    with metering(meter):
        report = await aevaluate(
            task.flock, examples, task.metric, concurrency=concurrency, on_progress=lambda done, _: watch.update(done)
        )
    watch.finish(f"score {report.score:.1%}")
    return report, Spent.of(report.usage, meter.spent_cost)


def write_report(report: CommandReport, args: argparse.Namespace) -> None:
    """Print the summary (or JSON) and write the HTML page."""
    if args.report:
        Path(args.report).write_text(report.html(), encoding="utf-8")
    if args.json:
        print(json.dumps(report.as_json(), indent=2))
    else:
        print(report.text())
        if args.report:
            print(f"  report: {args.report}")


def _detail(status: OptimizationStatus) -> str:
    best = "-" if status.best_score is None else f"{status.best_score:.1%}"
    tokens = status.usage.input_tokens + status.usage.output_tokens
    current = f"{status.current_trial} · " if status.current_trial else ""
    return f"{current}best {best} · {status.usage.calls} calls · {tokens:,} tokens · ${status.cost:.4f}"


def _trial_line(trial: TrialRecord, total: int) -> str:
    score = "" if trial.score is None else f" score {trial.score:.1%}"
    return (
        f"trial {trial.index + 1}/{total} {trial.kind} {trial.label!r}:{score} "
        f"({trial.runs} runs, {trial.usage.calls} calls, ${trial.cost:.4f})"
    )


async def _watch_run(run: OptimizationRun[Any], watch: Watch) -> OptimizationResult:
    """Run the optimization, polling its status into the progress display until it ends."""
    result: list[OptimizationResult] = []

    async def go() -> None:
        result.append(await run.run())

    watch.phase("optimizing", run.status().trials_total)
    noted = 0
    async with anyio.create_task_group() as group:
        group.start_soon(go)
        while not result:
            status = run.status()
            for trial in status.trials[noted:]:
                watch.note(_trial_line(trial, status.trials_total))
            noted = len(status.trials)
            watch.update(status.trials_done, _detail(status), total=status.trials_total)
            with anyio.move_on_after(_POLL_SECONDS):
                await anyio.sleep(_POLL_SECONDS)
        status = run.status()
        for trial in status.trials[noted:]:
            watch.note(_trial_line(trial, status.trials_total))
    watch.finish(_detail(run.status()))
    return result[0]


async def _optimize(args: argparse.Namespace) -> int:
    task = load_task(args.target)
    options = options_for(task, args)
    split: SplitName = args.split or task.default_split
    flock = task.flock
    initial = dict(flock.learned)
    with Watch(args.progress, label="flock optimize", stream=sys.stderr) as watch:
        before, spent_before = await score(task, split, watch, f"scoring {split} before", options.concurrency)
        valset = task.devset if task.devset is not None else None
        run = OptimizationRun(flock, task.trainset, task.metric, options, valset=valset)
        result = await _watch_run(run, watch)
        after, spent_after = await score(task, split, watch, f"scoring {split} after", options.concurrency)
    if args.save:
        from ._manifest import write_manifest

        write_manifest(flock, args.save)
    report = CommandReport(
        command="optimize",
        target=args.target,
        split=split,
        examples=len(after.results),
        before=before.score,
        after=after.score,
        agents=agent_rows(after, before),
        evaluation=spent_before + spent_after,
        learned=learned_rows({k: v for k, v in flock.learned.items() if k in result.learned}, initial),
        **optimization_fields(result),
    )
    write_report(report, args)
    return 0
