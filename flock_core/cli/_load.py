"""`MODULE:FLOCK` on the command line: import the module and take the `Flock` it names."""

from __future__ import annotations

import importlib
import sys

from .._flock import Flock

__all__ = ["load_flock"]


def load_flock(target: str) -> Flock:
    """Import `module:attribute` (from the current directory first) and return the `Flock` it names."""
    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        raise SystemExit(f"flock: expected module:attribute, got {target!r}")
    sys.path.insert(0, ".")
    obj = getattr(importlib.import_module(module_name), attribute, None)
    if not isinstance(obj, Flock):
        raise SystemExit(f"flock: {target} is not a Flock (got {type(obj).__name__})")
    return obj
