"""`flock run --max-calls N ...`: every Flock the script creates gets the budget."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest

from flock_core import Budget
from flock_core._new_flocks import capped
from flock_core.cli._main import main

DEBATE = """
import sys

import anyio
from pydantic import BaseModel

from flock_core import Budget, EvaluationResult, Flock, Usage
from flock_core.testing import FunctionEngine


class Argument(BaseModel):
    text: str
    round: int = 0


def answer(request):
    argument = request.payloads[0]
    reply = Argument(text=request.agent.name, round=argument.round + 1)
    return EvaluationResult([reply], usage=Usage(input_tokens=120, output_tokens=30, calls=1, cost=0.002))


async def debate():
    own = Budget(max_calls=int(sys.argv[1])) if len(sys.argv) > 1 else None
    flock = Flock(engine=FunctionEngine(answer), max_agent_iterations=1000, budget=own)
    flock.register_type(Argument)
    flock.agent("pro").consumes(Argument, where=lambda a: a.round % 2 == 0).publishes(Argument)
    flock.agent("con").consumes(Argument, where=lambda a: a.round % 2 == 1).publishes(Argument)
    await flock.publish(Argument(text="start"), correlation_id="debate")
    await flock.run_until_idle()
    status = await flock.get_correlation_status("debate")
    budget = status.flock_budget
    print(status.state, status.usage.calls, budget and budget.limit, budget and budget.remaining)


anyio.run(debate)
"""


@pytest.fixture
def script(tmp_path: Path) -> str:
    path = tmp_path / "debate.py"
    path.write_text(DEBATE, encoding="utf-8")
    return str(path)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(["run", "--progress", "off", *argv]) == 0
    return capsys.readouterr().out


def test_the_model_calls_stop_at_the_budget(script: str, capsys: pytest.CaptureFixture[str]) -> None:
    out = run(capsys, "--max-calls", "3", "--max-cost", "0.5", script)
    assert out == "cancelled 3 Budget(max_calls=3, max_cost=0.5) {'max_calls': 0, 'max_cost': 0.494}\n"


def test_the_lower_limit_wins_over_the_scripts_own_budget(script: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "--max-calls", "5", script, "2").startswith("cancelled 2 Budget(max_calls=2)")
    assert run(capsys, "--max-calls", "2", script, "5").startswith("cancelled 2 Budget(max_calls=2)")
    assert run(capsys, "--max-output-tokens", "90", script).startswith("cancelled 3 Budget(max_output_tokens=90)")


def test_without_options_the_script_runs_as_it_is(script: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, script, "4") == "cancelled 4 Budget(max_calls=4) {'max_calls': 0}\n"


def test_a_bad_limit_is_one_line_naming_the_option(script: str) -> None:
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        assert main(["run", "--max-calls", "-1", script]) == 2
    assert stderr.getvalue() == ("flock run: --max-calls: Budget(max_calls=-1): a limit is an int >= 0 or None\n")
    with contextlib.redirect_stderr(stderr), pytest.raises(SystemExit):
        main(["run", "--max-cost", "cheap", script])  # argparse: not a number
    assert "argument --max-cost: invalid float value: 'cheap'" in stderr.getvalue()


def test_the_cap_ends_with_the_run(script: str, capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "--max-calls", "1", script)
    assert capped(None) is None
    assert capped(Budget(max_calls=7)) == Budget(max_calls=7)
