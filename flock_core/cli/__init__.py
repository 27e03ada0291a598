"""The `flock` command line: run, serve, worker, graph and trace commands.

Sits on top: may import any part of `flock_core`; nothing in `flock_core` imports it.
"""
