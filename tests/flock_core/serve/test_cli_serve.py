"""`flock serve`: the subcommand's arguments and the API keys it reads from the environment."""

from __future__ import annotations

import argparse
from typing import Any

import pytest

from flock_core import AgentIdentity
from flock_core.cli._serve import add_serve_command, parse_api_keys


def test_parse_api_keys() -> None:
    assert parse_api_keys("a=ops  b=bob@globex c=x#l1,l2") == {
        "a": AgentIdentity("ops"),
        "b": AgentIdentity("bob", tenant="globex"),
        "c": AgentIdentity("x", frozenset({"l1", "l2"})),
    }
    assert parse_api_keys("") == {}
    with pytest.raises(SystemExit, match="entry 2"):
        parse_api_keys("a=ops secret-without-name")


def test_serve_command_arguments(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr("flock_core.serve.serve", lambda flock, **options: calls.append({"flock": flock, **options}))
    monkeypatch.setenv("FLOCK_KEYS", "k1=ops")
    parser = argparse.ArgumentParser(prog="flock")
    add_serve_command(parser.add_subparsers(dest="command", required=True), lambda target: f"loaded {target}")
    args = parser.parse_args(["serve", "app:flock", "--port", "0", "--no-dashboard", "--api-keys-env", "FLOCK_KEYS"])
    assert args.handler(args) == 0
    [call] = calls
    assert (call["flock"], call["host"], call["port"], call["dashboard"]) == ("loaded app:flock", "127.0.0.1", 0, False)
    assert call["auth"].identity_for("k1") == AgentIdentity("ops")
    defaults = parser.parse_args(["serve", "app:flock"])
    assert (defaults.port, defaults.api_keys_env, defaults.max_body_bytes) == (8344, None, 1_000_000)
    monkeypatch.setenv("EMPTY", "")
    empty = parser.parse_args(["serve", "app:flock", "--api-keys-env", "EMPTY"])
    with pytest.raises(SystemExit, match="holds no API keys"):
        empty.handler(empty)


def test_serve_refuses_an_open_public_interface_unless_insecure(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr("flock_core.serve.serve", lambda flock, **options: calls.append(options))
    parser = argparse.ArgumentParser(prog="flock")
    add_serve_command(parser.add_subparsers(dest="command", required=True), lambda target: target)
    open_public = parser.parse_args(["serve", "app:flock", "--host", "0.0.0.0"])
    with pytest.raises(SystemExit, match=r"refusing to listen on 0\.0\.0\.0 without API keys"):
        open_public.handler(open_public)
    assert calls == []
    args = ["serve", "app:flock", "--host", "0.0.0.0", "--insecure", "--allow-host", "flock.lan"]
    insecure = parser.parse_args([*args, "--max-connections", "5"])
    assert insecure.handler(insecure) == 0
    [call] = calls
    assert (call["insecure"], call["allowed_hosts"], call["max_connections"], call["auth"]) == (
        True,
        ["flock.lan"],
        5,
        None,
    )
