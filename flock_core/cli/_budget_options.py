"""`--max-calls`, `--max-cost`, ...: a `Budget` from the command line, for the commands that run Flocks."""

from __future__ import annotations

import argparse

from .._budget import Budget
from ..exceptions import ConfigurationError

__all__ = ["add_budget_arguments", "budget_from"]

_LIMITS: tuple[tuple[str, type[int] | type[float], str], ...] = (
    ("max_calls", int, "model calls"),
    ("max_tokens", int, "input plus output tokens"),
    ("max_input_tokens", int, "input (prompt) tokens"),
    ("max_output_tokens", int, "output (completion) tokens"),
    ("max_cost", float, "US dollars, priced from LiteLLM's bundled price map"),
    ("max_wall_time", float, "seconds from a Flock's creation to a model call"),
)


def add_budget_arguments(parser: argparse.ArgumentParser, description: str) -> None:
    """Add one option per limit of `flock_core.Budget` (`--max-calls N`, ...); `description` says what they limit."""
    group = parser.add_argument_group("budget", description)
    for name, kind, what in _LIMITS:
        metavar = "N" if kind is int else "X"
        flag = "--" + name.replace("_", "-")
        group.add_argument(flag, dest=name, type=kind, metavar=metavar, help=f"the most {what}")


def budget_from(args: argparse.Namespace) -> Budget | None:
    """The budget the options of `add_budget_arguments` give (`None` without any); `SystemExit` for a bad one."""
    limits = {name: getattr(args, name) for name, _, _ in _LIMITS if getattr(args, name) is not None}
    if not limits:
        return None
    try:
        return Budget.from_limits(limits)
    except ConfigurationError as exc:
        flag = "--" + (exc.setting or "budget").replace("_", "-")
        raise SystemExit(f"flock {args.command}: {flag}: {exc}") from None
