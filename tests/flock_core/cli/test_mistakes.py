"""The `flock` command as a user runs it: a mistake is one line on stderr and status 2, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]

MANY_AGENTS = """\
from pydantic import BaseModel
from flock_core import Flock

class Topic(BaseModel):
    name: str

flock = Flock()
flock.register_type(Topic)
for number in range(400):  # long names: ~100 kB of output, more than a pipe holds
    flock.agent(f"agent_{number}_" + "x" * 200).consumes(Topic).publishes(Topic)
"""


def flock(cwd: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-c", "import sys; from flock_core.cli._main import main; sys.exit(main())", *argv]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (["run", "missing.py"], "flock run: no such file: missing.py"),
        (["agents", "nosuchmodule:flock"], "flock: no module 'nosuchmodule' (from 'nosuchmodule:flock') in {cwd}"),
        (["agents", "app:nothing"], "flock: module 'app' has no attribute 'nothing'"),
        (["types", "app"], "flock: expected module:attribute, got 'app'"),
        (["types", "app:answer"], "flock: app:answer is not a Flock (got int)"),
        (["trace", "list", "nope.db"], "flock trace: no trace file at nope.db"),
    ],
    ids=["missing script", "missing module", "missing attribute", "no colon", "not a Flock", "no trace file"],
)
def test_a_mistake_is_one_line_and_status_2(tmp_path: Path, argv: list[str], line: str) -> None:
    (tmp_path / "app.py").write_text("from flock_core import Flock\nflock = Flock()\nanswer = 42\n", encoding="utf-8")
    done = flock(tmp_path, *argv)
    assert (done.returncode, done.stdout, done.stderr.splitlines()) == (2, "", [line.format(cwd=tmp_path)])


def test_a_module_that_fails_to_import_keeps_its_traceback(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("import not_installed_anywhere\n", encoding="utf-8")
    done = flock(tmp_path, "agents", "broken:flock")
    assert done.returncode == 1
    assert "Traceback" in done.stderr
    assert "No module named 'not_installed_anywhere'" in done.stderr


def test_run_puts_the_scripts_folder_on_sys_path(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "helpers.py").write_text("GREETING = 'hello from a sibling module'\n", encoding="utf-8")
    (project / "main.py").write_text("import helpers\nprint(helpers.GREETING)\n", encoding="utf-8")
    done = flock(tmp_path, "run", "--progress", "off", "project/main.py")
    assert (done.returncode, done.stdout, done.stderr) == (0, "hello from a sibling module\n", "")


def test_writing_to_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    (tmp_path / "many.py").write_text(MANY_AGENTS, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-c", "import sys; from flock_core.cli._main import main; sys.exit(main())"]
    reader = subprocess.Popen(
        [*command, "agents", "many:flock"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert reader.stdout is not None
    assert reader.stdout.readline().startswith("agent_0_xxx")  # what `| head -1` reads, then it closes
    reader.stdout.close()
    _, stderr = reader.communicate(timeout=60)
    assert stderr == ""
    assert reader.returncode == 1
