"""`flock run SCRIPT [ARGS...]`: run a Python script as `__main__`, with a progress view of every Flock it creates."""

from __future__ import annotations

import argparse
import runpy
import sys
from collections.abc import Callable, Generator
from contextlib import contextmanager
from pathlib import Path

from .._budget import Budget
from .._flock import Flock
from .._new_flocks import cap_every_new_flock, on_every_new_flock
from ._budget_options import add_budget_arguments, budget_from
from ._commands import Subcommands
from ._progress import ProgressView, add_progress_argument

__all__ = ["add_run_command", "every_new_flock", "every_new_flock_capped"]


@contextmanager
def every_new_flock(callback: Callable[[Flock], None]) -> Generator[None]:
    """Call `callback` with every `Flock` created (in any thread) while the `with` block runs."""
    remove = on_every_new_flock(callback)
    try:
        yield
    finally:
        remove()


@contextmanager
def every_new_flock_capped(budget: Budget | None) -> Generator[None]:
    """Give every `Flock` created while the `with` block runs at most `budget` (nothing for `None`)."""
    remove = None if budget is None else cap_every_new_flock(budget)
    try:
        yield
    finally:
        if remove is not None:
            remove()


def _run(args: argparse.Namespace) -> int:
    budget = budget_from(args)
    script = Path(args.script)
    if not script.exists():
        raise SystemExit(f"flock run: no such file: {args.script}")
    if script.is_dir() and not (script / "__main__.py").exists():
        raise SystemExit(f"flock run: {args.script} is a folder without a __main__.py")
    sys.argv = [args.script, *args.args]
    # like `python script.py`: the script's folder comes first on sys.path, so its own modules import
    folder = str(script.resolve() if script.is_dir() else script.resolve().parent)
    sys.path.insert(0, folder)
    try:
        view = ProgressView(args.progress, label="flock run", tokens=args.stream)
        with view, every_new_flock(view.watch), every_new_flock_capped(budget):
            runpy.run_path(args.script, run_name="__main__")
    finally:
        if folder in sys.path:
            sys.path.remove(folder)
    return 0


def add_run_command(commands: Subcommands) -> None:
    """Register `flock run [--progress MODE] [--stream] [--max-calls N ...] SCRIPT [ARGS...]`."""
    run = commands.add_parser("run", help="run a Python script that declares and runs Flocks, with progress on stderr")
    add_progress_argument(run)
    run.add_argument(
        "--stream",
        action="store_true",
        help="show the tokens every running agent streams: a live line per activation when stdout is a terminal, "
        "else plain lines on stdout ('agent#n | text'); agents' engines stream only with this flag",
    )
    add_budget_arguments(
        run,
        "each Flock the script creates may spend at most this, over all its workflows; a Flock created with "
        "a budget of its own gets the lower limit of each (see docs/control.md#budgets)",
    )
    run.add_argument("script", metavar="SCRIPT", help="the Python file to run as __main__")
    run.add_argument("args", nargs=argparse.REMAINDER, metavar="ARGS", help="passed to the script as sys.argv[1:]")
    run.set_defaults(handler=_run)
