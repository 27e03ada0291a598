"""The `flock serve` subcommand: serve a Flock named `module:attribute` over HTTP (needs the `serve` extra)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from typing import Any

import anyio

from ..blackboard._visibility import AgentIdentity
from ._commands import Subcommands
from ._load import load_flock

__all__ = ["ANONYMOUS_IDENTITY", "add_serve_command", "parse_api_keys", "parse_identity"]

FlockLoader = Callable[[str], Any]


ANONYMOUS_IDENTITY = AgentIdentity("anonymous")
"""The identity of an MCP-over-stdio client when `--as` is not given (the HTTP API's anonymous caller)."""


def parse_identity(text: str) -> AgentIdentity:
    """An identity from `name[@tenant][#label,label]`.

    >>> parse_identity("ops@acme#clearance:high")
    AgentIdentity(name='ops', labels=frozenset({'clearance:high'}), tenant='acme')
    """
    who, _, labels = text.partition("#")
    name, _, tenant = who.partition("@")
    if not name:
        raise SystemExit(f"flock serve: {text!r} is not name[@tenant][#labels]")
    return AgentIdentity(name, frozenset(filter(None, labels.split(","))), tenant or None)


def parse_api_keys(text: str) -> dict[str, AgentIdentity]:
    """API keys from `key=name[@tenant][#label,label]` entries separated by white space.

    >>> parse_api_keys("k1=ops k2=alice@acme#clearance:high")
    {'k1': AgentIdentity(name='ops', labels=frozenset(), tenant=None), \
'k2': AgentIdentity(name='alice', labels=frozenset({'clearance:high'}), tenant='acme')}
    """
    keys: dict[str, AgentIdentity] = {}
    for number, entry in enumerate(text.split(), start=1):
        key, _, who = entry.partition("=")
        if not key or not who or who.startswith(("@", "#")):
            raise SystemExit(f"flock serve: API key entry {number} is not key=name[@tenant][#labels]")
        keys[key] = parse_identity(who)
    return keys


def _serve(args: argparse.Namespace, load_flock: FlockLoader) -> int:
    try:
        from ..serve import ApiKeys, is_loopback, serve, serve_mcp_stdio  # the serve extra may be missing
    except ImportError as exc:
        raise SystemExit(f'flock serve needs the serve extra: pip install "flockboard[serve]" ({exc})') from None
    if args.mcp_stdio:
        identity = parse_identity(args.as_identity) if args.as_identity else ANONYMOUS_IDENTITY
        anyio.run(lambda: serve_mcp_stdio(load_flock(args.target), identity=identity))
        return 0
    keys = parse_api_keys(os.environ.get(args.api_keys_env, "")) if args.api_keys_env else {}
    if args.api_keys_env and not keys:
        raise SystemExit(f"flock serve: ${args.api_keys_env} holds no API keys")
    if not keys and not is_loopback(args.host) and not args.insecure:
        raise SystemExit(
            f"flock serve: refusing to listen on {args.host} without API keys (--api-keys-env VAR); "
            "add --insecure only if an open server on that interface is really meant"
        )
    serve(
        load_flock(args.target),
        host=args.host,
        port=args.port,
        dashboard=not args.no_dashboard,
        auth=ApiKeys(keys) if keys else None,
        max_body_bytes=args.max_body_bytes,
        max_connections=args.max_connections,
        allowed_hosts=args.allow_host or None,
        insecure=args.insecure,
        mcp=args.mcp,
    )
    return 0


def add_serve_command(subparsers: Subcommands, load_flock: FlockLoader = load_flock) -> argparse.ArgumentParser:
    """Register `flock serve module:attribute [--host] [--port] [--api-keys-env VAR] [--insecure] ...`.

    Args:
        subparsers: what `ArgumentParser.add_subparsers()` returned.
        load_flock: turns `module:attribute` into the Flock (default: `flock_core.cli._load.load_flock`).
    """
    command: argparse.ArgumentParser = subparsers.add_parser(
        "serve", help="serve MODULE:FLOCK over HTTP: API, event stream, metrics and dashboard (Ctrl-C stops)"
    )
    command.add_argument("target", metavar="MODULE:FLOCK", help="module:attribute naming a Flock")
    command.add_argument(
        "--host",
        default="127.0.0.1",
        help="interface to listen on (default: 127.0.0.1); any other interface needs --api-keys-env",
    )
    command.add_argument("--port", type=int, default=8344, help="port (default: 8344; 0 picks a free one)")
    command.add_argument("--no-dashboard", action="store_true", help="do not serve the dashboard at /")
    command.add_argument(
        "--max-body-bytes",
        type=int,
        default=1_000_000,
        metavar="BYTES",
        help="largest accepted request body (default: 1000000)",
    )
    command.add_argument(
        "--api-keys-env",
        metavar="VAR",
        help="require API keys, read from $VAR as 'key=name[@tenant][#label,...]' entries separated by spaces "
        "(without it, every caller is the anonymous public identity)",
    )
    command.add_argument(
        "--insecure",
        action="store_true",
        help="allow a non-loopback --host without API keys (anyone who reaches it is anonymous; logs a warning)",
    )
    command.add_argument(
        "--allow-host",
        action="append",
        metavar="NAME",
        help="without API keys, also answer to this Host name (repeatable; default: loopback names only)",
    )
    command.add_argument(
        "--max-connections",
        type=int,
        default=1000,
        metavar="N",
        help="open connections and requests in progress at once; beyond it requests get 503 (default: 1000)",
    )

    command.add_argument(
        "--mcp", action="store_true", help="also serve the Flock as an MCP server (streamable HTTP) at /mcp"
    )
    command.add_argument(
        "--mcp-stdio",
        action="store_true",
        help="speak MCP over stdin/stdout instead of serving HTTP (for MCP clients that start the server)",
    )
    command.add_argument(
        "--as",
        dest="as_identity",
        metavar="NAME[@TENANT][#LABELS]",
        help="with --mcp-stdio: the identity the client acts as (default: anonymous)",
    )

    def handler(args: argparse.Namespace) -> int:
        return _serve(args, load_flock)

    command.set_defaults(handler=handler)
    return command
