"""Observability internals: the trace file (exporter, schema, queries, text reports) and lineage graphs.

Everything here is private; `flock_core.tracing` is the public surface. Only `_exporter` and `_setup` import
the OpenTelemetry SDK, so reading a trace file or drawing a graph does not load it.

May import: `flock_core.orchestration`, `flock_core.agents`, `flock_core.blackboard` and the leaf modules.
"""
