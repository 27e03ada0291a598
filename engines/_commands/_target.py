"""`MODULE:ATTRIBUTE` on the command line: a `LearningTask` (or a function returning one), or a `Flock`."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from flock_core import Flock

from .._learning._task import LearningTask

__all__ = ["load_flock", "load_task"]


def _attribute(target: str) -> object:
    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        raise SystemExit(f"flock: expected MODULE:ATTRIBUTE, got {target!r}")
    if "." not in sys.path:
        sys.path.insert(0, ".")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is None or not module_name.startswith(exc.name):
            raise  # the module exists and fails to import something itself: its traceback says where
        raise SystemExit(f"flock: no module {module_name!r} (from {target!r}) in {Path.cwd()}") from None
    if not hasattr(module, attribute):
        raise SystemExit(f"flock: module {module_name!r} has no attribute {attribute!r}")
    found: object = getattr(module, attribute)
    if isinstance(found, (Flock, LearningTask)) or not callable(found):
        return cast(object, found)
    factory = cast(Callable[[], object], found)
    return factory()  # a factory: the data loads only now


def load_task(target: str) -> LearningTask[Any]:
    """The `LearningTask` that `target` names (an instance, or a function of no argument that returns one)."""
    obj = _attribute(target)
    if not isinstance(obj, LearningTask):
        raise SystemExit(f"flock: {target} is not an engines.LearningTask (got {type(obj).__name__})")
    return cast(LearningTask[Any], obj)


def load_flock(target: str) -> Flock:
    """The `Flock` that `target` names: a `Flock`, or the workflow of a `LearningTask` (or their factories)."""
    obj = _attribute(target)
    if isinstance(obj, LearningTask):
        return obj.flock
    if not isinstance(obj, Flock):
        raise SystemExit(f"flock: {target} is neither a Flock nor an engines.LearningTask (got {type(obj).__name__})")
    return obj
