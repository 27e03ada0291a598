"""Benchmarks: this framework and Flock (PyPI `flock-core`) on the same workloads, in the same run.

Run `make bench` (or `python -m benchmarks`); see docs/benchmarks.md for the method and how to read the table.

This package is imported by both sides' driver processes, including Flock's own virtualenv (Python 3.12+),
so this module and the ones the drivers load first use only the standard library and Pydantic.
"""
