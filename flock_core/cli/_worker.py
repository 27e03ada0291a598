"""`flock worker`: claim and run a Flock's work on its shared store until SIGINT or SIGTERM.

`flock worker module:flock [--agents a,b] [--concurrency N] [--tenant T]` imports the module, takes the
`Flock` it names (its store, for example a `PostgresBlackboardStore` built from an environment variable,
decides which board), and runs `Flock.run_worker()`. The first SIGINT or SIGTERM stops claiming new work
and lets the running activations finish (for at most `--grace` seconds); a second one stops at once.
Work that is cut short is not lost: its lease expires and another worker runs it again.

`--stream` shows the tokens the activations this worker runs stream, as `flock run --stream` does: plain
`agent#n | text` lines on stdout (a live line per activation when stdout is a terminal). Each worker
shows what it runs; its agents' engines stream only with this flag (or another token subscriber).
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import AsyncIterator, Sequence
from typing import Protocol, runtime_checkable

import anyio

from .._flock import Flock
from ..exceptions import FlockError
from ._commands import Subcommands
from ._load import load_flock
from ._progress import add_progress_argument, watch_flock

__all__ = ["add_worker_command", "main", "serve"]


@runtime_checkable
class _TenantScopable(Protocol):
    def restrict_to_tenant(self, tenant: str) -> None: ...


def add_worker_command(commands: Subcommands) -> None:
    """Register `flock worker` on the `flock` command line's subcommands."""
    worker = commands.add_parser(
        "worker", help="claim and run the work of MODULE:FLOCK on its shared store (PostgreSQL) until stopped"
    )
    worker.add_argument("target", metavar="MODULE:FLOCK", help="module:attribute naming a Flock")
    worker.add_argument(
        "--agents", type=_names, metavar="A,B", help="comma-separated agents whose work to claim (default: all)"
    )
    worker.add_argument(
        "--concurrency",
        type=_positive,
        metavar="N",
        help="activations to run at once (default: the Flock's max_concurrency)",
    )
    worker.add_argument("--tenant", metavar="T", help="scope the store to this tenant (enforced by the database)")
    worker.add_argument(
        "--grace",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="seconds running work may take to finish on SIGINT/SIGTERM (default: 30)",
    )
    add_progress_argument(worker)
    worker.add_argument(
        "--stream",
        action="store_true",
        help="show the tokens the activations this worker runs stream: plain lines on stdout ('agent#n | text'), "
        "a live line per activation when stdout is a terminal; agents' engines stream only with this flag",
    )
    worker.set_defaults(handler=_worker)


def _names(text: str) -> frozenset[str]:
    names = frozenset(n.strip() for n in text.split(",") if n.strip())
    if not names:
        raise argparse.ArgumentTypeError("expected comma-separated agent names")
    return names


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return int(text)


def _worker(args: argparse.Namespace) -> int:
    flock = load_flock(args.target)
    agents: frozenset[str] | None = args.agents
    unknown = sorted((agents or frozenset()) - set(flock.agents))
    if unknown:
        raise SystemExit(f"flock worker: unknown agent(s) {', '.join(unknown)}; declared: {', '.join(flock.agents)}")
    if args.tenant is not None:
        if not isinstance(flock.store, _TenantScopable):
            raise SystemExit(
                f"flock worker: --tenant needs a PostgresBlackboardStore, got {type(flock.store).__name__}"
            )
        flock.store.restrict_to_tenant(args.tenant)
    errors: list[str] = []
    try:
        with watch_flock(flock, args.progress, label="flock worker", tokens=args.stream):
            anyio.run(serve, flock, agents, args.grace, args.concurrency)
    except* FlockError as group:
        errors.extend(str(exc) for exc in group.exceptions)
    if errors:
        raise SystemExit(f"flock worker: {'; '.join(errors)}")
    return 0


async def serve(
    flock: Flock, agents: frozenset[str] | None = None, grace: float = 30.0, concurrency: int | None = None
) -> None:
    """Run `flock.run_worker(agents=..., concurrency=...)` until SIGINT/SIGTERM, drain, then shut down."""
    names = ", ".join(sorted(agents or flock.agents))
    limit = concurrency or flock.max_concurrency
    lease = flock.lease.total_seconds() if flock.lease is not None else 0
    print(f"flock worker {flock.worker_id}: serving {names} (concurrency {limit}, lease {lease:g} s)", file=sys.stderr)
    try:
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async with anyio.create_task_group() as group:
                group.start_soon(lambda: flock.run_worker(agents=agents, concurrency=concurrency))
                async for signum in signals:
                    print(f"flock worker: {signum.name}: finishing running work", file=sys.stderr)
                    break
                await _drain(flock, signals, grace)
                group.cancel_scope.cancel()
    finally:
        with anyio.CancelScope(shield=True):
            await flock.shutdown()
    print("flock worker: stopped", file=sys.stderr)


async def _drain(flock: Flock, signals: AsyncIterator[signal.Signals], grace: float) -> None:
    """Claim nothing more and wait until no activation is queued or running, for at most `grace` seconds or
    until another signal."""
    with anyio.move_on_after(grace):
        async with anyio.create_task_group() as drain:

            async def stop_on_signal() -> None:
                async for _ in signals:
                    drain.cancel_scope.cancel()

            drain.start_soon(stop_on_signal)
            await flock.drain()
            drain.cancel_scope.cancel()


def main(argv: Sequence[str] | None = None) -> int:
    """`flock worker ...` on its own (`python -m flock_core.cli._worker worker module:flock`)."""
    parser = argparse.ArgumentParser(prog="flock")
    add_worker_command(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
