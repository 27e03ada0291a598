"""Reflection: what one agent did in a batch of workflow runs, judged, and a model asked for better instructions.

The shape of GEPA's adapter, for a whole workflow: a run's lineage says which activations of an agent
it holds (`engines._learning._traces`); each becomes one record of the agent's *reflective dataset*
with its inputs, its generated outputs, feedback on the run (the metric's score, the example's expected
value, the run's errors) and, when the example is labelled, what a correct run publishes in reply to
those inputs. The reflection model sees the agent's current instructions and those records, and
writes new instructions. Every reflection is one engine call, metered and budgeted like any run.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, Field

from flock_core import AgentSpec, Engine, OutputGroup, Subscription, type_name_of

from ._evaluate import ExampleResult
from ._propose import Proposal, ask_for_instructions
from ._traces import GroupKey, run_demos

__all__ = [
    "ReflectedInstructions",
    "ReflectionExample",
    "ReflectionTask",
    "reflect",
    "reflective_dataset",
]

MAX_RECORDS = 12
"""The most records a reflection shows (failures first)."""


class ReflectionExample(BaseModel):
    """One activation of the agent in a judged workflow run."""

    inputs: list[tuple[str, dict[str, Any]]] = Field(description="The artifacts the agent received: (type, payload).")
    generated_outputs: list[tuple[str, dict[str, Any]]] = Field(description="What the agent published.")
    feedback: str = Field(description="How the whole workflow run was judged, and why.")
    expected_outputs: list[tuple[str, dict[str, Any]]] | None = Field(
        default=None, description="What a correct run publishes in reply to these inputs, when known."
    )


class ReflectionTask(BaseModel):
    """One agent of a multi-agent workflow, its instructions and how its recent work was judged."""

    agent: str = Field(description="The agent's name.")
    current_instructions: str = Field(description="The instructions the agent follows now.")
    output_types: list[str] = Field(description="The types the agent must produce, with their JSON schemas.")
    examples: list[ReflectionExample] = Field(description="The agent's recent work, failures first.")


class ReflectedInstructions(BaseModel):
    """Improved instructions for the agent."""

    instructions: str = Field(
        description="The complete new instructions: keep what works, and add what the failures show is missing."
    )


_TASK = type_name_of(ReflectionTask)
_REFLECTOR = AgentSpec(
    "instruction_reflector",
    "You improve the instructions (the prompt) of one agent of a multi-agent workflow. Read the examples of its "
    "work and their feedback, find what the failing ones have in common, and write instructions that fix it.",
    subscriptions=(Subscription((_TASK,), (ReflectionTask,)),),
    output_groups=(OutputGroup((type_name_of(ReflectedInstructions),), (ReflectedInstructions,)),),
)


def reflective_dataset(
    key: GroupKey, results: Sequence[ExampleResult[Any]], specs: Mapping[str, AgentSpec], *, passed: Sequence[bool]
) -> list[ReflectionExample]:
    """The records of output group `key` in `results` (one per activation), failures first, at most `MAX_RECORDS`."""
    agent = key[0]
    records: list[tuple[bool, ReflectionExample]] = []
    for result, ok in zip(results, passed, strict=True):
        labelled = result.example.labelled_demos(specs, [agent]).get(key)
        verdict = "passed" if ok else "failed"
        feedback = f"The workflow run {verdict} (score {result.score:.2f}); expected: {result.example.expected!r}."
        if result.errors:
            feedback += " Errors: " + "; ".join(result.errors)
        for demo in run_demos(result.run, specs, [agent]).get(key, []):
            expected = labelled.outputs if labelled is not None and labelled.inputs == demo.inputs else None
            record = ReflectionExample(
                inputs=[(t, dict(p)) for t, p in demo.inputs],
                generated_outputs=[(t, dict(p)) for t, p in demo.outputs],
                feedback=feedback,
                expected_outputs=None if expected is None else [(t, dict(p)) for t, p in expected],
            )
            records.append((ok, record))
    records.sort(key=lambda pair: pair[0])  # failures first; stable, so run order within each
    return [record for _, record in records[:MAX_RECORDS]]


async def reflect(
    engine: Engine,
    spec: AgentSpec,
    group_index: int,
    *,
    current: str,
    examples: Sequence[ReflectionExample],
    model: str | None,
) -> Proposal:
    """Ask `engine` for new instructions of output group `group_index` of `spec`. A failed call proposes nothing."""
    group = spec.output_groups[group_index]
    task = ReflectionTask(
        agent=spec.name,
        current_instructions=current,
        output_types=[
            f"{n}: {json.dumps(m.model_json_schema())}" for n, m in zip(group.types, group.models, strict=True)
        ],
        examples=list(examples),
    )
    return await ask_for_instructions(
        engine, _REFLECTOR, task, model=model, ask=f"reflect-{spec.name}", failed=f"reflection on {spec.name!r}"
    )
