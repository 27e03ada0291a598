"""Commands provided through the `flock_core.commands` entry-point group: loaded only when run, and a missing or
broken provider says so in one line."""

from __future__ import annotations

import argparse
from importlib.metadata import EntryPoint

import pytest

from flock_core.cli import _plugins
from flock_core.cli._main import main
from flock_core.cli._plugins import COMMANDS_ENTRY_POINT_GROUP, PROVIDED


def _entry_point(name: str, value: str) -> EntryPoint:
    return EntryPoint(name=name, value=value, group=COMMANDS_ENTRY_POINT_GROUP)


def test_a_provided_command_without_a_provider_fails_with_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(_plugins, "find_command", lambda name: None)
    assert main(["optimize", "myapp:task", "--max-calls", "3"]) == 2
    err = capsys.readouterr().err
    assert "flock optimize: no installed package provides it" in err
    assert COMMANDS_ENTRY_POINT_GROUP in err


def test_a_provider_that_fails_to_import_is_named(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(_plugins, "find_command", lambda name: _entry_point(name, "no_such_module_xyz:configure"))
    assert main(["evaluate", "myapp:task"]) == 2
    err = capsys.readouterr().err
    assert "its provider 'no_such_module_xyz:configure' failed to load" in err
    assert "ModuleNotFoundError" in err


def test_built_in_commands_never_look_for_providers(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def forbidden(name: str) -> EntryPoint | None:
        raise AssertionError(f"looked up {name}")

    monkeypatch.setattr(_plugins, "find_command", forbidden)
    with pytest.raises(SystemExit):
        main(["--help"])
    help_text = capsys.readouterr().out
    assert all(name in help_text for name in PROVIDED)  # listed without loading their provider


def test_a_third_party_command_is_found_by_its_entry_point_name(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def configure(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("word")
        parser.set_defaults(handler=lambda args: print(f"hello {args.word}") or 0)

    entry_point = _entry_point("hello", "greetings:configure")
    monkeypatch.setattr(EntryPoint, "load", lambda self: configure)
    monkeypatch.setattr(_plugins, "find_command", lambda name: entry_point if name == "hello" else None)
    assert main(["hello", "world"]) == 0
    assert capsys.readouterr().out == "hello world\n"


def test_an_unknown_command_is_still_an_argparse_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_plugins, "find_command", lambda name: None)
    with pytest.raises(SystemExit) as exit_info:
        main(["no-such-command"])
    assert exit_info.value.code == 2
