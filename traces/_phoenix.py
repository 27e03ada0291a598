"""Phoenix's virtualenv (made once, under a lock), its server on loopback, and the demo exporting to it."""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Generator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

__all__ = [
    "PHOENIX_REQUIREMENT",
    "Phoenix",
    "PhoenixUnavailable",
    "ensure_phoenix",
    "run_demo",
    "run_phoenix",
    "venv_dir",
]

PHOENIX_REQUIREMENT = "arize-phoenix>=20,<21"
DEMO_PROJECT = "flockboard-demo"
_ROOT = Path(__file__).resolve().parent.parent
_INSTALL_TIMEOUT = 900.0
_START_TIMEOUT = 240.0  # the first start after an install compiles Phoenix's modules
_TRACE_LINE = re.compile(r"^trace: ([0-9a-f]{32})$", re.MULTILINE)

Log = Callable[[str], None]


class PhoenixUnavailable(RuntimeError):
    """Phoenix could not be installed or started here; the message says why."""


def cache_dir() -> Path:
    """`$XDG_CACHE_HOME/flockboard` (default `~/.cache/flockboard`): outside any checkout, shared by all."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "flockboard"


def venv_dir() -> Path:
    """Where Phoenix's virtualenv lives: `$FLOCK_PHOENIX_VENV`, else `phoenix-venv` in the cache directory."""
    return Path(os.environ.get("FLOCK_PHOENIX_VENV") or cache_dir() / "phoenix-venv")


@contextmanager
def _locked(path: Path) -> Generator[None]:
    """An exclusive lock on `path`, so parallel test runs do not build the same virtualenv at once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_phoenix(log: Log) -> Path:
    """The interpreter of Phoenix's virtualenv, made and installed on first use.

    Raises:
        PhoenixUnavailable: the virtualenv could not be made or `pip` could not install Phoenix.
    """
    venv = venv_dir()
    python, marker = venv / "bin" / "python", venv / ".flock-phoenix"
    with _locked(venv.with_name(venv.name + ".lock")):
        if python.exists() and marker.exists() and marker.read_text().strip() == PHOENIX_REQUIREMENT:
            return python
        log(f"installing {PHOENIX_REQUIREMENT} into {venv} (first use only; about 850 MB, a minute or two)")
        shutil.rmtree(venv, ignore_errors=True)
        for command in (
            [sys.executable, "-m", "venv", str(venv)],
            [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", PHOENIX_REQUIREMENT],
        ):
            try:
                done = subprocess.run(command, capture_output=True, text=True, timeout=_INSTALL_TIMEOUT, check=False)
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise PhoenixUnavailable(f"`{' '.join(command)}` did not finish: {exc}") from exc
            if done.returncode != 0:
                raise PhoenixUnavailable(f"`{' '.join(command)}` failed: {done.stderr.strip()[-800:]}")
        marker.write_text(PHOENIX_REQUIREMENT + "\n")
    return python


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True, slots=True)
class Phoenix:
    """A running Phoenix server: its base URL (UI, REST API and OTLP/HTTP receiver on one port)."""

    url: str

    def get(self, path: str, **params: Any) -> Any:
        """GET a REST API path (`/v1/...`) and return the decoded JSON."""
        response = httpx.get(self.url + path, params=params, timeout=30)
        response.raise_for_status()
        return response.json()

    def spans(self, project: str, trace_id: str) -> list[dict[str, Any]]:
        """Every span of one trace, oldest first."""
        body = self.get(f"/v1/projects/{project}/spans", trace_id=trace_id, limit=1000, sort="start_time", order="asc")
        return list(body["data"])

    def trace_url(self, project: str, trace_id: str) -> str:
        """The UI page of one trace."""
        project_id = self.get(f"/v1/projects/{project}")["data"]["id"]
        return f"{self.url}/projects/{project_id}/traces/{trace_id}"

    def wait_for_trace(self, project: str, trace_id: str, root: str, timeout: float = 60) -> list[dict[str, Any]]:
        """The trace's spans once its root span `root` has been stored (Phoenix inserts spans in batches)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                spans = self.spans(project, trace_id)
            except httpx.HTTPStatusError:  # the project appears with its first stored span
                spans = []
            if any(s["name"] == root and s["parent_id"] is None for s in spans):
                return spans
            if time.monotonic() > deadline:
                raise PhoenixUnavailable(f"trace {trace_id} has no root span {root!r} in Phoenix after {timeout} s")
            time.sleep(0.2)


@contextmanager
def run_phoenix(python: Path, workdir: Path, *, port: int = 0) -> Generator[Phoenix]:
    """Start Phoenix on 127.0.0.1 (a free port unless given), offline and without telemetry; stop it after.

    Raises:
        PhoenixUnavailable: the server exited or was not ready in time (the message ends with its log).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    port = port or _free_port()
    env = {
        **os.environ,
        "PHOENIX_ALLOW_EXTERNAL_RESOURCES": "false",
        "PHOENIX_TELEMETRY_ENABLED": "false",
        "PHOENIX_HOST": "127.0.0.1",
        "PHOENIX_PORT": str(port),
        "PHOENIX_GRPC_PORT": str(_free_port()),
        "PHOENIX_WORKING_DIR": str(workdir),
    }
    log_path = workdir / "phoenix.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(python), "-m", "phoenix.server.main", "serve"], stdout=log, stderr=subprocess.STDOUT, env=env
        )
    try:
        phoenix = Phoenix(f"http://127.0.0.1:{port}")
        _wait_ready(phoenix, process, log_path)
        yield phoenix
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_ready(phoenix: Phoenix, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise PhoenixUnavailable(f"Phoenix exited with {process.returncode}:\n{_tail(log_path)}")
        try:
            if httpx.get(phoenix.url + "/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass  # not listening yet
        time.sleep(0.2)
    raise PhoenixUnavailable(f"Phoenix was not ready after {_START_TIMEOUT:.0f} s:\n{_tail(log_path)}")


def _tail(path: Path) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-20:])


def run_demo(phoenix: Phoenix, *, python: str = sys.executable) -> tuple[str, list[dict[str, Any]], str]:
    """Run `examples/demo.py` exporting to Phoenix over OTLP/HTTP; its output, its trace's spans and page URL."""
    env = {
        **os.environ,
        "FLOCK_TRACE_OTLP": phoenix.url,
        "OTEL_RESOURCE_ATTRIBUTES": f"openinference.project.name={DEMO_PROJECT}",
    }
    env.pop("FLOCK_MODEL", None)
    done = subprocess.run(
        [python, str(_ROOT / "examples" / "demo.py")], capture_output=True, text=True, env=env, timeout=300, check=False
    )
    found = _TRACE_LINE.search(done.stdout)
    if done.returncode != 0 or found is None:
        raise PhoenixUnavailable(f"the demo failed ({done.returncode}):\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    trace_id = found.group(1)
    spans = phoenix.wait_for_trace(DEMO_PROJECT, trace_id, "invoke_workflow demo.Brief")
    return done.stdout, spans, phoenix.trace_url(DEMO_PROJECT, trace_id)
