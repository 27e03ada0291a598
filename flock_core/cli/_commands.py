"""What the `flock` subcommands register themselves on: the object `ArgumentParser.add_subparsers()` returns."""

from __future__ import annotations

import argparse
from typing import Protocol

__all__ = ["Subcommands"]


class Subcommands(Protocol):
    """The part of argparse's subparsers action that the commands use (its class is private to argparse)."""

    def add_parser(self, name: str, *, help: str | None = ...) -> argparse.ArgumentParser:
        """Add the subcommand `name` and return its parser."""
        ...
