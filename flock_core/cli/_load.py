"""`MODULE:FLOCK` on the command line: import the module and take the `Flock` it names."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

from .._flock import Flock

__all__ = ["load_flock"]


def load_flock(target: str) -> Flock:
    """Import `module:attribute` (from the current directory first) and return the `Flock` it names."""
    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        raise SystemExit(f"flock: expected module:attribute, got {target!r}")
    sys.path.insert(0, ".")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is None or not module_name.startswith(exc.name):
            raise  # the module exists and fails to import something itself: its traceback says where
        raise SystemExit(f"flock: no module {module_name!r} (from {target!r}) in {Path.cwd()}") from None
    obj = getattr(module, attribute, None)
    if obj is None and not hasattr(module, attribute):
        raise SystemExit(f"flock: module {module_name!r} has no attribute {attribute!r}")
    if not isinstance(obj, Flock):
        raise SystemExit(f"flock: {target} is not a Flock (got {type(obj).__name__})")
    return obj
