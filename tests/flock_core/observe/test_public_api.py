"""`flock_core.tracing`'s curated surface: sorted, unique, real, complete; private modules stay private."""

from __future__ import annotations

import inspect

from flock_core import tracing


def isort_key(name: str) -> tuple[int, str]:
    """Ruff's `__all__` order: CONSTANTS, then Classes, then functions."""
    return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)


def test_all_is_sorted_unique_and_real() -> None:
    names = list(tracing.__all__)
    assert names == sorted(names, key=isort_key)
    assert len(names) == len(set(names))
    assert [name for name in names if not hasattr(tracing, name)] == []


def test_every_public_class_and_function_is_exported() -> None:
    public = {
        name
        for name, value in vars(tracing).items()
        if not name.startswith("_")
        and (inspect.isclass(value) or inspect.isfunction(value))
        and value.__module__.startswith("flock_core")
    }
    assert sorted(public - set(tracing.__all__)) == []


def test_star_import_gives_exactly_all() -> None:
    namespace: dict[str, object] = {}
    exec("from flock_core.tracing import *", namespace)
    assert sorted(k for k in namespace if k != "__builtins__") == sorted(tracing.__all__)


def test_the_semantic_conventions_version_is_the_documented_one() -> None:
    assert tracing.SEMCONV_VERSION == "1.44.0"
