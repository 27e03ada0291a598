"""Commands other packages provide: the `flock_core.commands` entry-point group, loaded only when used.

`flock_core` never imports `engines`, so `flock optimize`, `flock evaluate` and `flock manifest` are
registered by `engines` (or any installed distribution) in the `flock_core.commands` entry-point group:
the entry point's name is the command, its value a function `configure(parser: argparse.ArgumentParser)`
that adds the command's arguments and sets `handler=` (a function of the parsed arguments returning the
exit status) with `parser.set_defaults`.

Nothing is scanned or imported for the built-in commands. `flock --help` lists the commands flockboard's
own engines provide (`PROVIDED`) without importing them; the entry point of a command is loaded when that
command is run (or its `--help` asked). A command in `PROVIDED` that no installed package registers, or
whose entry point fails to import, says so in one line and exits with status 2.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, cast

from ._commands import Subcommands

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

__all__ = ["COMMANDS_ENTRY_POINT_GROUP", "PROVIDED", "add_provided_command", "find_command"]

COMMANDS_ENTRY_POINT_GROUP = "flock_core.commands"

PROVIDED: dict[str, str] = {
    "optimize": "optimize a workflow's demos and instructions for a metric, with progress and a report",
    "evaluate": "score a workflow on a labelled split, with per-agent scores and a report",
    "manifest": "export, import-check and diff a workflow's declarations and learned state as JSON",
}
"""The commands flockboard's `engines` provide, with their one-line help (listed even before they load)."""

Configure = Callable[[argparse.ArgumentParser], None]


def find_command(name: str) -> EntryPoint | None:
    """The entry point registered for the command `name`, if an installed package registers one."""
    from importlib.metadata import entry_points  # scanning installed packages is slow: only for these commands

    found = list(entry_points(group=COMMANDS_ENTRY_POINT_GROUP, name=name))
    return found[0] if found else None


def add_provided_command(
    commands: Subcommands,
    name: str,
    argv: Sequence[str],
    *,
    finder: Callable[[str], EntryPoint | None] | None = None,
) -> argparse.ArgumentParser | None:
    """Add the command `name`: its provider's arguments if `argv` runs it, else a placeholder.

    Returns the parser added (its description is then set by the caller), or `None`: a third-party command
    (not in `PROVIDED`) is added only when `argv` runs it and an installed package registers it.
    """
    selected = bool(argv) and argv[0] == name
    if not selected:
        return commands.add_parser(name, help=PROVIDED[name]) if name in PROVIDED else None
    entry_point = (finder or find_command)(name)
    if entry_point is None and name not in PROVIDED:
        return None  # argparse reports the unknown command
    parser = commands.add_parser(name, help=PROVIDED.get(name))
    if entry_point is None:
        return _unavailable(parser, name, "no installed package provides it")
    try:
        configure = cast(Configure, entry_point.load())
    except Exception as exc:  # noqa: BLE001 - a broken provider must say so, not take the CLI down
        return _unavailable(parser, name, f"its provider {entry_point.value!r} failed to load: {exc!r}")
    configure(parser)
    return parser


def _unavailable(parser: argparse.ArgumentParser, name: str, why: str) -> argparse.ArgumentParser:
    message = (
        f"flock {name}: {why} (commands like this one come from the {COMMANDS_ENTRY_POINT_GROUP!r} entry-point "
        "group, which flockboard's engines register: reinstall flockboard, for example `pip install flockboard`)"
    )

    def fail(_: argparse.Namespace) -> int:
        raise SystemExit(message)

    parser.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    parser.set_defaults(handler=fail)
    return parser
