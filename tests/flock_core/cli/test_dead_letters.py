"""`flock dead-letters list|replay` on a Flock whose SQLite store holds dead letters."""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import anyio
import pytest

from flock_core.cli._main import main

APP = """
from pydantic import BaseModel

from flock_core import EvaluationRequest, Flock, SQLiteBlackboardStore
from flock_core.testing import FunctionEngine

BOARD = {board!r}
broken = [True]


class Ticket(BaseModel):
    text: str


class Triage(BaseModel):
    text: str


def engine(request: EvaluationRequest) -> list[BaseModel]:
    if broken:
        raise ValueError("cannot parse " + request.payloads[0].text)
    return [Triage(text="ok")]


def build() -> Flock:
    flock = Flock(store=SQLiteBlackboardStore(BOARD), engine=FunctionEngine(engine))
    flock.register_type(Ticket)
    flock.register_type(Triage)
    flock.agent("triage").consumes(Ticket).publishes(Triage)
    flock.agent("audit").consumes(Ticket).publishes(Triage)
    return flock


flock = build()
"""


@pytest.fixture
def app(tmp_path: Path) -> Iterator[ModuleType]:
    """A module whose Flock's store holds four dead letters: `triage` and `audit` on tickets a and b."""
    name = f"dead_letters_app_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(APP.format(board=str(tmp_path / "board.db")), encoding="utf-8")
    sys.path.insert(0, str(tmp_path))
    try:
        module = importlib.import_module(name)

        async def fail() -> None:
            first = module.build()
            for text in ("a", "b"):
                await first.publish(module.Ticket(text=text), correlation_id=f"ticket-{text}")
            await first.run_until_idle()
            await first.shutdown()

        anyio.run(fail)
        yield module
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop(name, None)


def flock_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(list(argv)) == 0
    return capsys.readouterr().out


def test_list_prints_one_line_per_dead_letter_and_json_on_request(
    app: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    target = f"{app.__name__}:flock"
    lines = flock_cli(capsys, "dead-letters", "list", target).splitlines()
    assert [line.split("  ")[1:] for line in lines] == [
        ["triage", "ticket-a", "attempts=1", "cannot parse a"],
        ["audit", "ticket-a", "attempts=1", "cannot parse a"],
        ["triage", "ticket-b", "attempts=1", "cannot parse b"],
        ["audit", "ticket-b", "attempts=1", "cannot parse b"],
    ]
    listed = json.loads(flock_cli(capsys, "dead-letters", "list", target, "--agent", "audit", "--json"))
    assert [(d["agent"], d["correlation_id"], d["error"]) for d in listed] == [
        ("audit", "ticket-a", "cannot parse a"),
        ("audit", "ticket-b", "cannot parse b"),
    ]
    assert listed[0]["key"] == lines[1].split("  ")[0]


def test_replay_queues_dead_letters_again_for_the_next_run(app: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    target = f"{app.__name__}:flock"
    first_key = flock_cli(capsys, "dead-letters", "list", target).split("  ")[0]
    assert flock_cli(capsys, "dead-letters", "replay", target, first_key) == "replayed 1 dead letter(s)\n"
    replayed = flock_cli(capsys, "dead-letters", "replay", target, "--all", "--correlation", "ticket-b")
    assert replayed == "replayed 2 dead letter(s)\n"

    app.broken.clear()

    async def rerun() -> list[str]:
        flock = app.build()
        await flock.run_until_idle()
        left = [d.agent + "@" + d.correlation_id for d in await flock.dead_letters()]
        await flock.shutdown()
        return left

    assert anyio.run(rerun) == ["audit@ticket-a"]


def test_replay_mistakes_name_the_problem(app: ModuleType) -> None:
    target = f"{app.__name__}:flock"
    for argv, problem in [
        ((), "give the KEYs to replay, or --all"),
        (("triage:nothing", "--all"), "give the KEYs to replay, or --all"),
        (("triage:nothing", "--agent", "triage"), "--agent and --correlation select with --all, not with KEYs"),
        (("triage:nothing",), "not a dead letter: triage:nothing"),
    ]:
        stderr = io.StringIO()
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
            assert main(["dead-letters", "replay", target, *argv]) == 2
        assert stderr.getvalue() == f"flock dead-letters replay: {problem}\n"
