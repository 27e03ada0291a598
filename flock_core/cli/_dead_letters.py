"""`flock dead-letters`: list a Flock's dead letters, and replay one, several or all of them.

The Flock's store decides which board: a SQLite file or a PostgreSQL schema is shared with the process
that serves it. On PostgreSQL any worker picks a replayed item up at once; a local board (SQLite) served
by another process runs it at that process's next start (replay through the HTTP API to run it at once).
"""

from __future__ import annotations

import argparse
import json

import anyio

from .._flock import Flock
from ..orchestration._dead_letters import DeadLetter
from ._commands import Subcommands
from ._load import load_flock

__all__ = ["add_dead_letters_command"]


def add_dead_letters_command(commands: Subcommands) -> None:
    """Register `flock dead-letters list|replay` on the `flock` command line's subcommands."""
    command = commands.add_parser("dead-letters", help="list and replay the work of MODULE:FLOCK that failed for good")
    actions = command.add_subparsers(dest="action", required=True, title="actions", metavar="ACTION")
    listing = actions.add_parser("list", help="one line per dead letter: key, agent, workflow, attempts, error")
    replay = actions.add_parser("replay", help="queue dead letters again (their attempts reset)")
    for action in (listing, replay):
        action.add_argument("target", metavar="MODULE:FLOCK", help="module:attribute naming a Flock")
        action.add_argument("--agent", metavar="NAME", help="only this agent's dead letters")
        action.add_argument("--correlation", metavar="ID", help="only this workflow's dead letters")
    listing.add_argument("--json", action="store_true", help="print JSON for machines")
    listing.set_defaults(handler=_list)
    replay.add_argument("keys", nargs="*", metavar="KEY", help="work keys to replay (see `list`)")
    replay.add_argument("--all", action="store_true", help="replay every dead letter (that --agent/--correlation pick)")
    replay.set_defaults(handler=_replay)


def _letters(flock: Flock, args: argparse.Namespace) -> list[DeadLetter]:
    async def read() -> list[DeadLetter]:
        try:
            return await flock.dead_letters(agent=args.agent, correlation_id=args.correlation)
        finally:
            await flock.store.close()

    return anyio.run(read)


def _list(args: argparse.Namespace) -> int:
    letters = _letters(load_flock(args.target), args)
    if args.json:
        print(json.dumps([d.as_json() for d in letters], indent=2))
        return 0
    for letter in letters:
        error = (letter.error or "").replace("\n", " ")
        print(f"{letter.key}  {letter.agent}  {letter.correlation_id}  attempts={letter.attempts}  {error}")
    return 0


def _replay(args: argparse.Namespace) -> int:
    if bool(args.keys) == bool(args.all):
        raise SystemExit("flock dead-letters replay: give the KEYs to replay, or --all")
    if args.keys and (args.agent or args.correlation):
        raise SystemExit("flock dead-letters replay: --agent and --correlation select with --all, not with KEYs")
    flock = load_flock(args.target)

    async def replay() -> tuple[int, list[str]]:
        try:
            keys: list[str] = list(args.keys)
            if args.all:
                keys = [d.key for d in await flock.dead_letters(agent=args.agent, correlation_id=args.correlation)]
            missing = [key for key in keys if not await flock.replay(key)]
            return len(keys) - len(missing), missing
        finally:
            await flock.store.close()

    replayed, missing = anyio.run(replay)
    print(f"replayed {replayed} dead letter(s)")
    if missing:
        raise SystemExit(f"flock dead-letters replay: not a dead letter: {', '.join(missing)}")
    return 0
