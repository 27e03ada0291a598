"""The SQLite store: one embedded, durable file per board, resumable after a crash; and retention.

May import: `flock_core.blackboard` and the leaf modules. Loaded only when a SQLite store is used.
"""
