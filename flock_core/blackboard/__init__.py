"""The blackboard layer: what is stored and who may read it.

Owns artifacts, the type registry, payload validation, visibility, the work records a store keeps
(work items, commits, timer ticks, expired joins), lease owners and the one lease rule (`_leases`), the
store protocols split by concern (`_store`: artifact log, work queue, run state, the hold of a local board;
`_shared`: routing and the shared work queue), and the backends, each its own package: `memory/`,
`sqlite/`, `postgres/`.

May import: the leaf modules of `flock_core` (`exceptions`, `_ids`, `_clock`, `_usage`, `_version`).
Nothing here knows about agents, scheduling or serving. The public names are re-exported by `flock_core`.
"""
