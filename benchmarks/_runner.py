"""Running one side's driver, or a one-line timing snippet, in a fresh process of the right interpreter.

Children run in a scratch folder (Flock reads `.env` and writes `.flock/` in its working directory) with
this repository on `PYTHONPATH`, and never print results: they write them to a file.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ._protocol import Job, Outcome, Side

__all__ = ["BenchError", "Interpreter", "compile_packages", "run_job", "time_snippet"]

ROOT = Path(__file__).resolve().parent.parent


class BenchError(Exception):
    """A measurement could not be taken (its process failed or timed out); the message says why."""


@dataclass(frozen=True, slots=True)
class Interpreter:
    """The interpreter of one side and the environment variables its processes get."""

    side: Side
    python: Path
    env: Mapping[str, str] = field(default_factory=dict[str, str])

    def environ(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """This process's environment plus `PYTHONPATH`, the side's variables and `extra`."""
        env = {**os.environ, **self.env, **(extra or {})}
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
        return env


def _run(
    interpreter: Interpreter, args: list[str], folder: Path, extra: Mapping[str, str] | None, timeout: float = 600.0
) -> None:
    log = folder / "output.log"
    with log.open("w") as output:
        try:
            done = subprocess.run(
                [str(interpreter.python), *args],
                cwd=folder,
                env=interpreter.environ(extra),
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as error:
            raise BenchError(f"{interpreter.side}: timed out after {timeout:.0f} s") from error
    if done.returncode != 0:
        lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
        raise BenchError(f"{interpreter.side}: exit status {done.returncode}: {' | '.join(lines[-3:])[-300:]}")


def run_job(interpreter: Interpreter, job: Job, extra: Mapping[str, str] | None = None) -> Outcome:
    """Run `job` in a new driver process of `interpreter` and return what it measured."""
    with tempfile.TemporaryDirectory(prefix="flock-bench-") as scratch:
        folder = Path(scratch)
        job.dump(folder / "job.json")
        args = ["-m", "benchmarks._driver", interpreter.side, str(folder / "job.json"), str(folder / "out.json")]
        _run(interpreter, args, folder, extra, job.timeout)
        return Outcome.load(folder / "out.json")


def compile_packages(interpreter: Interpreter, *packages: str) -> None:
    """Write the bytecode of our source-tree `packages`, as installing a wheel does.

    The project is installed in editable mode, so without this, an environment that sets
    `PYTHONDONTWRITEBYTECODE` would make every fresh process compile our modules, while the other side's
    pip-installed packages load precompiled bytecode.
    """
    with tempfile.TemporaryDirectory(prefix="flock-bench-") as scratch:
        _run(interpreter, ["-m", "compileall", "-q", *(str(ROOT / name) for name in packages)], Path(scratch), None)


def time_snippet(interpreter: Interpreter, statement: str) -> float:
    """Seconds that `statement` takes in a new process of `interpreter` (e.g. an import, so it is cold)."""
    code = (
        "import sys, time\n"
        "started = time.perf_counter()\n"
        f"{statement}\n"
        "elapsed = time.perf_counter() - started\n"
        "open(sys.argv[1], 'w').write(repr(elapsed))\n"
    )
    with tempfile.TemporaryDirectory(prefix="flock-bench-") as scratch:
        folder = Path(scratch)
        _run(interpreter, ["-c", code, str(folder / "elapsed.txt")], folder, None)
        return float((folder / "elapsed.txt").read_text())
