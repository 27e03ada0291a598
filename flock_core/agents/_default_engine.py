"""Finding the default engine without importing it at `import flock_core` time."""

from __future__ import annotations

from ..exceptions import ConfigurationError
from ._engine import Engine

__all__ = ["ENTRY_POINT_GROUP", "load_default_engine"]

ENTRY_POINT_GROUP = "flock_core.engines"


def load_default_engine() -> Engine:
    """Instantiate the engine registered as `default` in the `flock_core.engines` entry-point group.

    flockboard registers its `DSPyEngine` there; the core never imports an engine package itself.

    Raises:
        ConfigurationError: no installed distribution registers a default engine.
    """
    from importlib.metadata import entry_points  # scanning installed packages is slow: only when resolving

    for entry_point in entry_points(group=ENTRY_POINT_GROUP, name="default"):
        factory = entry_point.load()
        return factory()
    raise ConfigurationError(
        f"no default engine: no installed package registers one in the {ENTRY_POINT_GROUP!r} entry-point group "
        "(install flockboard, which registers DSPyEngine, or pass Flock(engine=...) / agent.with_engines(...))"
    )
