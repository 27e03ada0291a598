"""The package version, single-sourced for `flock_core.__version__` and the CLI."""

__version__ = "0.1.0"
