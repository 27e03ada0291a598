"""The agents layer: what an agent is and how one activation runs.

Owns the fluent builder and the frozen `AgentSpec` it produces, subscription patterns (joins, batches,
schedules), the engine protocol and its request/result types, the output contract, components, context
providers, learned state, and the activation (components, engine calls, contract with repair).

May import: `flock_core.blackboard` and the leaf modules. Never the orchestration, serving or CLI layers.
"""
