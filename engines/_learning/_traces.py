"""From a finished run to worked examples: which agent turned which inputs into which outputs.

The lineage on the board says it all. One activation of agent X is the set of artifacts X produced
with the same `consumed_from` (the same input ids); its inputs are those artifacts, in that order. The
outputs are split into X's output groups by type, in declaration order: when two groups of one agent
publish the same type, the first group takes as many as its fan-out allows.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from uuid import UUID

from flock_core import AgentSpec, Artifact, Demo, LearnedState, Usage, WorkflowError, type_name_of

from ._codec import encode_state
from ._workflow_run import WorkflowRun

__all__ = ["Collected", "GroupKey", "run_demos"]

GroupKey = tuple[str, int]
"""`(agent name, output group index)`: the unit that learns (the key of `Flock.learned`)."""

_ERROR_TYPE = type_name_of(WorkflowError)


def run_demos(run: WorkflowRun, specs: Mapping[str, AgentSpec], agents: Collection[str]) -> dict[GroupKey, list[Demo]]:
    """One demo per activation and output group of `agents` in `run`, in the order the activations ran.

    Activations whose inputs are not all in the run (another workflow's artifacts) are left out.
    """
    by_id = {artifact.id: artifact for artifact in run.artifacts}
    activations: dict[tuple[str, tuple[UUID, ...]], list[Artifact]] = {}
    for artifact in run.artifacts:
        if artifact.produced_by in agents and artifact.produced_by in specs and artifact.type != _ERROR_TYPE:
            activations.setdefault((artifact.produced_by, artifact.consumed_from), []).append(artifact)
    demos: dict[GroupKey, list[Demo]] = {}
    for (agent, input_ids), outputs in activations.items():
        inputs = [by_id[i] for i in input_ids if i in by_id]
        if len(inputs) != len(input_ids):
            continue
        demo_inputs = tuple((a.type, a.payload) for a in inputs)
        for index, produced in _split_groups(specs[agent], outputs).items():
            demo = Demo(inputs=demo_inputs, outputs=tuple((a.type, a.payload) for a in produced))
            demos.setdefault((agent, index), []).append(demo)
    return demos


def _split_groups(spec: AgentSpec, outputs: Sequence[Artifact]) -> dict[int, list[Artifact]]:
    groups = spec.output_groups
    split: dict[int, list[Artifact]] = {}
    taken: Counter[tuple[int, str]] = Counter()
    index = 0
    for artifact in outputs:
        while index < len(groups) and (
            artifact.type not in groups[index].types or taken[index, artifact.type] >= groups[index].fan_out.maximum
        ):
            index += 1
        if index == len(groups):
            break  # more outputs than the declaration allows: the declaration changed since the run
        taken[index, artifact.type] += 1
        split.setdefault(index, []).append(artifact)
    return split


class Collected:
    """The demos of the passing bootstrap runs, each demo once, in training order."""

    def __init__(self) -> None:
        self.pool: dict[GroupKey, list[Demo]] = {}
        self.runs = 0
        self.usage = Usage()
        self._seen: set[str] = set()

    def add(self, demos: Mapping[GroupKey, list[Demo]]) -> None:
        for key, found in demos.items():
            kept = self.pool.setdefault(key, [])
            for demo in found:
                if (identity := demo_identity(demo)) not in self._seen:
                    self._seen.add(identity)
                    kept.append(demo)


def demo_identity(demo: Demo) -> str:
    return json.dumps(encode_state(LearnedState(demos=(demo,)))["demos"], sort_keys=True)
