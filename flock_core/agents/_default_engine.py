"""Finding the default engine without importing it at `import flock_core` time."""

from __future__ import annotations

import importlib

from ..exceptions import ConfigurationError
from ._engine import Engine

__all__ = ["ENTRY_POINT_GROUP", "load_default_engine"]

ENTRY_POINT_GROUP = "flock_core.engines"


def load_default_engine() -> Engine:
    """Instantiate the engine registered as `default` in the `flock_core.engines` entry-point group.

    Falls back to `engines.DSPyEngine` when the project runs from a source tree without being installed.
    """
    from importlib.metadata import entry_points  # scanning installed packages is slow: only when resolving

    for entry_point in entry_points(group=ENTRY_POINT_GROUP, name="default"):
        factory = entry_point.load()
        return factory()
    try:
        module = importlib.import_module("engines")
    except ImportError as exc:
        raise ConfigurationError(
            "no default engine: install flockboard (which registers engines.DSPyEngine) or pass "
            "Flock(engine=...) / agent.with_engines(...)"
        ) from exc
    return module.DSPyEngine()
