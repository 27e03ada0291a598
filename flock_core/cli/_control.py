"""`flock cancel | pause | resume | approvals | approve | reject`: control a Flock's workflows from a shell.

Each command imports MODULE:FLOCK and acts on its store, as `flock worker` does: the change is durable and
every process on that store follows it (a cancellation stops running work at the next lease renewal).
The approval commands act as the approver named by `--as` (with `--tenant` and `--label` for an identity
in a tenant or with labels): `approvals` lists only the requests that identity may decide.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Awaitable, Callable
from typing import Any

import anyio

from .._flock import Flock
from ..blackboard._approvals import ApprovalRequest
from ..blackboard._visibility import AgentIdentity
from ..exceptions import ApprovalError
from ._commands import Subcommands
from ._load import load_flock

__all__ = ["add_control_commands"]


def _run(flock: Flock, call: Callable[[], Awaitable[Any]]) -> Any:
    async def run() -> Any:
        try:
            return await call()
        finally:
            await flock.shutdown()

    return anyio.run(run)


def _cancel(args: argparse.Namespace) -> int:
    flock = load_flock(args.target)
    cancelled = _run(flock, lambda: flock.cancel(args.correlation_id, reason=args.reason))
    print(f"cancelled workflow {args.correlation_id} ({cancelled} queued or running work item(s) stopped)")
    return 0


def _pause(args: argparse.Namespace) -> int:
    flock = load_flock(args.target)
    cid: str | None = args.correlation_id
    paused = args.command == "pause"
    _run(flock, lambda: flock.pause(cid) if paused else flock.resume(cid))
    print(f"{'paused' if paused else 'resumed'} {'every workflow' if cid is None else f'workflow {cid}'}")
    return 0


def _identity(args: argparse.Namespace) -> AgentIdentity:
    return AgentIdentity(args.approver, labels=frozenset(args.label or ()), tenant=args.tenant)


def _line(request: ApprovalRequest) -> str:
    held = ", ".join(sorted({a.type for a in request.artifacts}))
    deadline = "" if request.deadline is None else f"  {request.on_timeout} at {request.deadline.isoformat()}"
    return f"{request.id}  {request.agent}  {request.correlation_id}  holds {len(request.artifacts)} {held}{deadline}"


def _approvals(args: argparse.Namespace) -> int:
    flock = load_flock(args.target)
    requests: list[ApprovalRequest] = _run(
        flock, lambda: flock.approvals(_identity(args), correlation_id=args.correlation)
    )
    for request in requests:
        if args.json:
            artifacts = [a.model_dump(mode="json") for a in request.artifacts]
            data = {"id": request.id, "agent": request.agent, "correlation_id": request.correlation_id,
                    "deadline": None if request.deadline is None else request.deadline.isoformat(),
                    "on_timeout": request.on_timeout, "artifacts": artifacts}  # fmt: skip
            print(json.dumps(data))
        else:
            print(_line(request))
    return 0


def _decide(args: argparse.Namespace) -> int:
    flock = load_flock(args.target)
    identity = _identity(args)
    approve = args.command == "approve"
    decide = flock.approve if approve else flock.reject
    try:
        _run(flock, lambda: decide(args.approval_id, by=identity, reason=args.reason))
    except ApprovalError as exc:
        raise SystemExit(f"flock {args.command}: {exc}") from None
    print(f"{'approved' if approve else 'rejected'} {args.approval_id} as {identity}")
    return 0


def _approver_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--as", dest="approver", required=True, metavar="NAME", help="the approver's name")
    parser.add_argument("--tenant", metavar="T", help="the approver's tenant")
    parser.add_argument("--label", action="append", metavar="L", help="a label of the approver (repeatable)")


def add_control_commands(commands: Subcommands) -> None:
    """Register the cancel, pause, resume and approval commands."""
    cancel = commands.add_parser("cancel", help="cancel a workflow of MODULE:FLOCK: its queued and running work stops")
    cancel.add_argument("target", metavar="MODULE:FLOCK", help="module:attribute naming a Flock")
    cancel.add_argument("correlation_id", metavar="CORRELATION_ID", help="the workflow")
    cancel.add_argument("--reason", default="cancelled from the command line", help="why (recorded with it)")
    cancel.set_defaults(handler=_cancel)
    for name, text in (("pause", "pause a workflow (or every one)"), ("resume", "resume a workflow (or every one)")):
        command = commands.add_parser(name, help=f"{text} on the store of MODULE:FLOCK")
        command.add_argument("target", metavar="MODULE:FLOCK", help="module:attribute naming a Flock")
        command.add_argument("correlation_id", nargs="?", metavar="CORRELATION_ID", help="the workflow (default: all)")
        command.set_defaults(handler=_pause)
    listing = commands.add_parser("approvals", help="list the held outputs of MODULE:FLOCK an approver may decide")
    listing.add_argument("target", metavar="MODULE:FLOCK", help="module:attribute naming a Flock")
    _approver_arguments(listing)
    listing.add_argument("--correlation", metavar="ID", help="only this workflow (correlation id)")
    listing.add_argument("--json", action="store_true", help="one JSON object per line, with the held artifacts")
    listing.set_defaults(handler=_approvals)
    for name, text in (("approve", "publish held outputs"), ("reject", "reject held outputs (recording why)")):
        command = commands.add_parser(name, help=f"{text} as an approver")
        command.add_argument("target", metavar="MODULE:FLOCK", help="module:attribute naming a Flock")
        command.add_argument("approval_id", metavar="APPROVAL_ID", help="the request (from flock approvals)")
        _approver_arguments(command)
        command.add_argument("--reason", help="why (recorded with the decision)")
        command.set_defaults(handler=_decide)
