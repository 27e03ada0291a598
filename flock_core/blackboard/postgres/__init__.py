"""The PostgreSQL store: a shared board and work queue for many worker processes.

May import: `flock_core.blackboard`, the leaf modules and `psycopg`. Loaded only when a PostgreSQL store is used.
"""
