"""The `flock optimize`, `flock evaluate` and `flock manifest` commands, registered in the `flock_core.commands`
entry-point group (the `flock` command line lives in `flock_core`, which never imports `engines`)."""

from ._evaluate import configure_evaluate
from ._manifest import configure_manifest
from ._optimize import configure_optimize

__all__ = ["configure_evaluate", "configure_manifest", "configure_optimize"]
