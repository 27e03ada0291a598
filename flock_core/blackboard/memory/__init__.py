"""The in-memory store: the fastest backend, for scripts and tests (optionally shared between Flocks).

May import: `flock_core.blackboard` and the leaf modules.
"""
