"""Importing the package has no side effects (STYLE rule 5), checked in a fresh interpreter."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_python(code: str) -> dict[str, object]:
    """Run `code` in a fresh interpreter at the project root; it prints one JSON object."""
    completed = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stderr == ""
    return json.loads(completed.stdout)


def test_import_flock_core_has_no_side_effects() -> None:
    report = run_python(
        """
        import json, logging, os, sys, warnings
        warnings.simplefilter("error")
        environ = dict(os.environ)
        root_handlers = list(logging.getLogger().handlers)
        root_level = logging.getLogger().level

        import flock_core

        import opentelemetry.trace as trace  # imported after flock_core, only to inspect it
        loggers = {
            name: logger
            for name, logger in logging.Logger.manager.loggerDict.items()
            if name.split(".")[0] == "flock_core" and isinstance(logger, logging.Logger)
        }
        print(json.dumps({
            "heavy_modules": sorted(
                m for m in ("dspy", "litellm", "opentelemetry.sdk", "engines", "rich") if m in sys.modules
            ),
            "root_handlers_changed": logging.getLogger().handlers != root_handlers,
            "root_level_changed": logging.getLogger().level != root_level,
            "flock_core_handlers": {n: len(lg.handlers) for n, lg in loggers.items() if lg.handlers},
            "flock_core_levels": {n: lg.level for n, lg in loggers.items() if lg.level != logging.NOTSET},
            "tracer_provider_set": trace._TRACER_PROVIDER is not None,
            "environ_changed": dict(os.environ) != environ,
        }))
        """
    )
    assert report == {
        "heavy_modules": [],
        "root_handlers_changed": False,
        "root_level_changed": False,
        "flock_core_handlers": {},
        "flock_core_levels": {},
        "tracer_provider_set": False,
        "environ_changed": False,
    }


DEFERRED_MODULES = (
    "flock_core.agents._activation",  # the run-time machinery loads with the first Flock
    "flock_core.orchestration._conditions",  # run_until conditions
    "flock_core.agents._cron",  # cron schedules
    "flock_core.agents._learned",  # learned demos and instructions
    "flock_core.mcp",
    "flock_core.orchestration._orchestrator",
    "flock_core.blackboard.postgres._store",
    "flock_core.blackboard.sqlite._retention",
    "flock_core.orchestration._router",  # shared (PostgreSQL) boards
    "flock_core.serve",
    "flock_core.blackboard.sqlite._store",
    "flock_core.orchestration._timers",  # timer agents
    "importlib.metadata",  # scanned only when the default engine is resolved
    "opentelemetry.trace",  # with the first Flock's tracer
    "psycopg",
    "pydantic.type_adapter",
    "sqlite3",
    "starlette",
)


def test_import_flock_core_defers_the_runtime_and_optional_features() -> None:
    """The run-time machinery loads with the first `Flock`, optional features on first use, so importing is fast."""
    report = run_python(
        f"""
        import json, sys
        from flock_core import Flock, flock_type
        print(json.dumps({{"loaded": sorted(m for m in {DEFERRED_MODULES!r} if m in sys.modules)}}))
        """
    )
    assert report == {"loaded": []}


def test_import_flock_core_prints_nothing() -> None:
    completed = subprocess.run(
        [sys.executable, "-c", "import flock_core, flock_core.testing"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (completed.returncode, completed.stdout, completed.stderr) == (0, "", "")


def test_import_flock_core_testing_does_not_patch_socket() -> None:
    report = run_python(
        """
        import json, socket
        before = {
            "connect": socket.socket.connect,
            "connect_ex": socket.socket.connect_ex,
            "create_connection": socket.create_connection,
            "getaddrinfo": socket.getaddrinfo,
            "socket": socket.socket,
        }

        import flock_core.testing

        after = {
            "connect": socket.socket.connect,
            "connect_ex": socket.socket.connect_ex,
            "create_connection": socket.create_connection,
            "getaddrinfo": socket.getaddrinfo,
            "socket": socket.socket,
        }
        print(json.dumps({"patched": sorted(k for k in before if before[k] is not after[k])}))
        """
    )
    assert report == {"patched": []}
