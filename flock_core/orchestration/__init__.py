"""The orchestration layer: routing artifacts to agents and running the resulting work.

Owns the scheduler (type index, visibility, filters, collectors for gates, joins and batches), the runtime
(ready queue, limits, timers, idle), the orchestrator, the shared-board router, resume, run conditions,
status records and run events.

May import: `flock_core.agents`, `flock_core.blackboard` and the leaf modules.
"""
