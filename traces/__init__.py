"""See a workflow in Arize Phoenix: `make traces` (`python -m traces`).

Phoenix runs on loopback in its own virtualenv, made on first use in the user's cache directory (about 850 MB,
so the project's own install stays lean); the offline demo exports its spans to it over OTLP/HTTP, and the URL
of the demo's trace is printed. Not part of the published packages.
"""

from ._phoenix import (
    PHOENIX_REQUIREMENT,
    Phoenix,
    PhoenixUnavailable,
    ensure_phoenix,
    run_demo,
    run_phoenix,
    venv_dir,
)

__all__ = [
    "PHOENIX_REQUIREMENT",
    "Phoenix",
    "PhoenixUnavailable",
    "ensure_phoenix",
    "run_demo",
    "run_phoenix",
    "venv_dir",
]
