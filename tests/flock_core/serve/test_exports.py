"""The serving and MCP subpackages' curated surfaces: `__all__` sorted, real and complete."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

import flock_core.mcp
import flock_core.serve

MODULES = [pytest.param(flock_core.serve, id="serve"), pytest.param(flock_core.mcp, id="mcp")]


@pytest.mark.parametrize("module", MODULES)
def test_all_is_sorted_real_and_complete(module: ModuleType) -> None:
    names: list[str] = list(module.__all__)
    assert names == sorted(names)
    assert [n for n in names if not hasattr(module, n)] == []
    public = {
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and (inspect.isclass(value) or inspect.isfunction(value))
    }
    assert sorted(public - set(names)) == []


def test_import_flock_core_does_not_import_the_optional_extras() -> None:
    code = "import sys, flock_core; print(sorted(m for m in ('starlette', 'uvicorn', 'mcp') if m in sys.modules))"
    root = Path(__file__).resolve().parents[3]
    completed = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    assert completed.stdout.strip() == "[]"
