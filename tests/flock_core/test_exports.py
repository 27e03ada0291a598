"""The curated public surface: every package's `__all__` is sorted, unique, real and complete."""

from __future__ import annotations

import importlib.metadata
import inspect
from types import ModuleType

import pytest

import flock_core
import flock_core.exceptions
import flock_core.testing

MODULES = [
    pytest.param(flock_core, id="flock_core"),
    pytest.param(flock_core.testing, id="flock_core.testing"),
    pytest.param(flock_core.exceptions, id="flock_core.exceptions"),
]


@pytest.mark.parametrize("module", MODULES)
def test_all_is_sorted_without_duplicates(module: ModuleType) -> None:
    names: list[str] = list(module.__all__)
    assert names == sorted(names)
    assert len(names) == len(set(names))


@pytest.mark.parametrize("module", MODULES)
def test_every_exported_name_exists(module: ModuleType) -> None:
    missing = [name for name in module.__all__ if not hasattr(module, name)]
    assert missing == []


@pytest.mark.parametrize("module", MODULES)
def test_every_public_class_and_function_is_exported(module: ModuleType) -> None:
    public = {
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and (inspect.isclass(value) or inspect.isfunction(value))
        and value.__module__.startswith("flock_core")
    }
    assert sorted(public - set(module.__all__)) == []


def test_star_import_gives_exactly_all() -> None:
    namespace: dict[str, object] = {}
    exec("from flock_core import *", namespace)
    assert sorted(k for k in namespace if k != "__builtins__") == sorted(flock_core.__all__)


def test_version_matches_the_distribution() -> None:
    assert flock_core.__version__ == importlib.metadata.version("flockboard")
