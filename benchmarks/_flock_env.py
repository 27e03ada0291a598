"""Flock's side needs its own interpreter: find Python >= 3.12, make `benchmarks/.flock-venv`, install Flock.

The virtualenv is kept between runs (it is git-ignored); a marker file records which release went in.
The newest release is tried first, then older ones, since a release may fail to resolve on a fresh machine.
Set `FLOCK_BENCH_PYTHON` to choose the interpreter. `SAME_STACK` goes in beside Flock (into an existing
environment too), so that both sides' servers parse HTTP with the same code.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["SAME_STACK", "VENV", "FlockEnv", "ensure_flock", "find_python"]

VENV = Path(__file__).resolve().parent / ".flock-venv"
_MARKER = VENV / ".bench-installed"
_PACKAGE = "flock-core"
_OLDER_RELEASES_TRIED = 4
_INSTALL_TIMEOUT = 900.0
_VERSION = re.compile(r"^\d+(\.\d+)*$")
SAME_STACK = ("httptools",)
"""What ours installs for serving (the `serve` extra) and Flock's does not: uvicorn parses HTTP with
httptools when it is installed (h11 otherwise), on both sides."""

Log = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class FlockEnv:
    """A ready interpreter with Flock installed: its path, Flock's release and how it was chosen."""

    python: Path
    version: str
    python_version: str
    note: str


def find_python() -> Path | None:
    """An interpreter of Python >= 3.12, the oldest first (the closest to ours, 3.11).

    Tried in order: `$FLOCK_BENCH_PYTHON`, `python3.12` and `python3.13` on `PATH`, then pyenv's versions.
    """
    candidates: list[str] = []
    if chosen := os.environ.get("FLOCK_BENCH_PYTHON"):
        candidates.append(chosen)
    for name in ("python3.12", "python3.13"):
        if found := shutil.which(name):
            candidates.append(found)
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates += sorted(glob.glob(str(pyenv / "versions" / "3.1[2-9]*" / "bin" / "python3")))
    for candidate in candidates:
        if _version_of(Path(candidate)) >= (3, 12):
            return Path(candidate)
    return None


def _version_of(python: Path) -> tuple[int, ...]:
    """`python`'s version, or `()` if it does not run (a pyenv shim without that version selected fails)."""
    try:
        done = subprocess.run(
            [str(python), "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except OSError:
        return ()
    text = done.stdout.strip()
    return tuple(int(part) for part in text.split(".")) if done.returncode == 0 and _VERSION.match(text) else ()


def _venv_python() -> Path:
    return VENV / "bin" / "python"


def _installed() -> FlockEnv | None:
    """The environment left by an earlier run, if it still works."""
    if not _MARKER.exists():
        return None
    python = _venv_python()
    version = ".".join(map(str, _version_of(python)))
    done = subprocess.run(
        [str(python), "-c", f"import importlib.metadata as m; print(m.version({_PACKAGE!r}))"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if not version or done.returncode != 0:
        return None
    if not _has_same_stack() and _pip("install", "--quiet", *SAME_STACK).returncode != 0:
        return None
    return FlockEnv(python, done.stdout.strip(), version, _MARKER.read_text().strip())


def _has_same_stack() -> bool:
    imports = "; ".join(f"import {name}" for name in SAME_STACK)
    done = subprocess.run([str(_venv_python()), "-c", imports], capture_output=True, timeout=60, check=False)
    return done.returncode == 0


def _pip(*args: str, timeout: float = _INSTALL_TIMEOUT) -> subprocess.CompletedProcess[str]:
    command = [str(_venv_python()), "-m", "pip", "--disable-pip-version-check", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)


def _older_releases() -> list[str]:
    """Flock's releases newest first, from one `pip index versions` look-up (empty if pip cannot tell)."""
    done = _pip("index", "versions", _PACKAGE, timeout=120)
    match = re.search(r"Available versions:\s*(.+)", done.stdout)
    if match is None:
        return []
    return [v.strip() for v in match.group(1).split(",") if _VERSION.match(v.strip())]


def ensure_flock(log: Log) -> FlockEnv | str:
    """Flock's environment, made on first use; or, when it cannot be made, the reason (a short sentence)."""
    if (ready := _installed()) is not None:
        return ready
    python = find_python()
    if python is None:
        return "no Python >= 3.12 found (set FLOCK_BENCH_PYTHON)"
    log(f"creating {VENV.name} with {python} and installing {_PACKAGE} (first run only; about two minutes)")
    shutil.rmtree(VENV, ignore_errors=True)
    made = subprocess.run([str(python), "-m", "venv", str(VENV)], capture_output=True, text=True, check=False)
    if made.returncode != 0:
        return f"could not create a virtualenv with {python}: {made.stderr.strip()[-200:]}"
    attempts: list[str] = []
    for release in [None, *_older_releases()[1 : 1 + _OLDER_RELEASES_TRIED]]:
        spec = _PACKAGE if release is None else f"{_PACKAGE}=={release}"
        done = _pip("install", "--quiet", spec, *SAME_STACK)
        if done.returncode == 0:
            note = "newest release" if release is None else f"newest that installed; failed: {', '.join(attempts)}"
            _MARKER.write_text(note + "\n")
            installed = _installed()
            if installed is not None:
                return installed
        attempts.append(spec)
        log(f"pip install {spec} failed: {done.stderr.strip().splitlines()[-1:] or ['?']}")
    return f"pip could not install Flock ({', '.join(attempts)})"


if __name__ == "__main__":
    result = ensure_flock(lambda message: print(message, file=sys.stderr))
    print(result)
