"""Instruction proposals: ask a model (through any engine) for better instructions of one output group.

A grounded proposal loop in the spirit of DSPy's MIPROv2 proposer: the proposer sees a summary of the
training set, the agent's current instructions (its declared description), its input and output types,
a few worked examples (the `n`-th proposal those of the group's `n`-th demo set) and a tip that varies
per proposal (for diversity). Every proposal is one engine call, counted
in the optimization's usage and budget like any run.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import anyio
from pydantic import BaseModel, Field

from flock_core import (
    AgentSpec,
    Artifact,
    Demo,
    Engine,
    EvaluationRequest,
    OutputGroup,
    Subscription,
    Usage,
    type_name_of,
)
from flock_core.exceptions import ContractViolation, EngineError

from ._budget import Spending
from ._examples import WorkflowExample
from ._runner import StopReason
from ._traces import GroupKey

__all__ = [
    "TIPS",
    "InstructionProposal",
    "InstructionTask",
    "Proposal",
    "Proposals",
    "propose",
    "propose_all",
    "summarize",
]

_log = logging.getLogger("engines.learning")

TIPS: tuple[str, ...] = (
    "Be concise and precise.",
    "Say exactly which output values are allowed and when to use each.",
    "Describe the reasoning the agent should follow, step by step.",
    "Point out the mistakes that are easy to make on this task.",
    "Use the worked examples to describe the expected output format.",
)
"""Tips given to the proposer in turn, so that proposals for one group differ."""
_SHOWN = 8
"""The most worked examples one proposal sees."""


class InstructionTask(BaseModel):
    """One agent of a multi-agent workflow whose instructions should be improved."""

    agent: str = Field(description="The agent's name.")
    dataset_summary: str = Field(default="", description="What the workflow's training examples look like.")
    current_instructions: str = Field(description="The instructions the agent follows now.")
    input_types: list[str] = Field(description="The types the agent receives, with their JSON schemas.")
    output_types: list[str] = Field(description="The types the agent must produce, with their JSON schemas.")
    good_examples: list[str] = Field(description="Worked examples (inputs and outputs) from runs judged good.")
    tip: str = Field(description="A tip on what the new instructions should emphasize.")


class InstructionProposal(BaseModel):
    """Improved instructions for the agent."""

    instructions: str = Field(description="The complete new instructions, to be used as the agent's prompt.")


_TASK = type_name_of(InstructionTask)
_PROPOSER = AgentSpec(
    "instruction_proposer",
    "You improve the instructions (the prompt) of one agent of a multi-agent workflow. Write instructions "
    "that make the agent produce outputs like the good examples, following the tip.",
    subscriptions=(Subscription((_TASK,), (InstructionTask,)),),
    output_groups=(OutputGroup((type_name_of(InstructionProposal),), (InstructionProposal,)),),
)


@dataclass(frozen=True, slots=True)
class Proposal:
    """The result of one proposal call: the instructions (if the reply was usable) and what it cost."""

    instructions: str | None
    usage: Usage


async def propose(
    engine: Engine,
    spec: AgentSpec,
    group_index: int,
    *,
    demos: Sequence[Demo],
    tip: str,
    model: str | None,
    summary: str = "",
) -> Proposal:
    """One instruction proposal for output group `group_index` of `spec`. A failed call proposes nothing."""
    group = spec.output_groups[group_index]
    task = InstructionTask(
        agent=spec.name,
        dataset_summary=summary,
        current_instructions=spec.description or f"(none: the agent is named {spec.name!r})",
        input_types=[_describe(n, m) for s in spec.subscriptions for n, m in zip(s.types, s.models, strict=True)],
        output_types=[_describe(n, m) for n, m in zip(group.types, group.models, strict=True)],
        good_examples=[_example(demo) for demo in demos[:_SHOWN]],
        tip=tip,
    )
    return await ask_for_instructions(
        engine,
        _PROPOSER,
        task,
        model=model,
        ask=f"propose-{spec.name}",
        failed=f"instruction proposal for {spec.name!r}",
    )


async def ask_for_instructions(
    engine: Engine, writer: AgentSpec, task: BaseModel, *, model: str | None, ask: str, failed: str
) -> Proposal:
    """Run `writer` (whose one output has an `instructions` field) on `task` once, as workflow `ask`.

    A failed call, or a reply without instructions, proposes nothing (it is logged as `failed`)."""
    artifact = Artifact(type=type_name_of(type(task)), payload=task.model_dump(mode="json"), correlation_id=ask)
    request = EvaluationRequest(writer, writer.output_groups[0], 0, (artifact,), (task,), model=model)
    try:
        result = await engine.evaluate(request)
    except (EngineError, ContractViolation) as exc:
        _log.warning("%s failed: %s", failed, exc)
        return Proposal(None, exc.usage or Usage())
    found = [str(getattr(o, "instructions", "")).strip() for o in result.outputs]
    return Proposal(found[0] if found and found[0] else None, result.usage)


@dataclass(frozen=True, slots=True)
class Proposals:
    """The instructions proposed per output group, the calls made, what they cost, and why proposing stopped."""

    found: dict[GroupKey, list[str]]
    calls: int
    usage: Usage
    stop: StopReason


async def propose_all(
    engine: Engine,
    specs: Mapping[str, AgentSpec],
    pool: Mapping[GroupKey, Sequence[Sequence[Demo]]],
    *,
    count: int,
    model: str | None,
    spending: Spending,
    concurrency: int,
    cancelled: Callable[[], bool],
    summary: str = "",
) -> Proposals:
    """`count` proposals for each group of `pool`, `concurrency` calls at a time.

    `pool` holds each group's demo sets; the `n`-th proposal sees the `n`-th set that has demos (in turn)
    and tip `n`. Budget and cancellation are checked before each window of calls, as for workflow runs.
    """
    jobs = [(key, n) for key in sorted(pool) for n in range(count)]
    found: dict[GroupKey, list[str]] = {key: [] for key in sorted(pool)}
    usage, done = Usage(), 0
    while done < len(jobs):
        if cancelled():
            return Proposals(found, done, usage, "cancelled")
        size = spending.admit("proposal", min(concurrency, len(jobs) - done))
        if size == 0:
            return Proposals(found, done, usage, "budget")
        window = jobs[done : done + size]
        replies = await _window(engine, specs, pool, window, model=model, summary=summary)
        for (key, _), reply in zip(window, replies, strict=True):
            spending.record("proposal", reply.usage)
            usage = usage + reply.usage
            if reply.instructions is not None and reply.instructions not in found[key]:
                found[key].append(reply.instructions)
        done += size
    return Proposals(found, done, usage, "completed")


async def _window(
    engine: Engine,
    specs: Mapping[str, AgentSpec],
    pool: Mapping[GroupKey, Sequence[Sequence[Demo]]],
    jobs: Sequence[tuple[GroupKey, int]],
    *,
    model: str | None,
    summary: str,
) -> list[Proposal]:
    replies = [Proposal(None, Usage())] * len(jobs)

    async def one(index: int, key: GroupKey, n: int) -> None:
        tip = TIPS[n % len(TIPS)]
        sets = [demos for demos in pool[key] if demos] or [()]
        spec, demos = specs[key[0]], sets[n % len(sets)]
        replies[index] = await propose(engine, spec, key[1], demos=demos, tip=tip, model=model, summary=summary)

    async with anyio.create_task_group() as group:
        for index, (key, n) in enumerate(jobs):
            group.start_soon(one, index, key, n)
    return replies


def summarize(examples: Sequence[WorkflowExample[Any]]) -> str:
    """A short description of a training set, for the proposer: its size, input types and labels.

    >>> from pydantic import BaseModel
    >>> class Ticket(BaseModel):
    ...     text: str
    >>> summarize([WorkflowExample(Ticket(text="late"), "eta"), WorkflowExample(Ticket(text="lost"), "eta")])
    '2 examples; inputs: Ticket; expected: eta (2); e.g. {"text": "late"} | {"text": "lost"}'
    """
    inputs = Counter(type_name_of(type(item)) for example in examples for item in example.inputs)
    plain = [e.expected for e in examples if isinstance(e.expected, str | int | float | bool)]
    labels = Counter(str(label) for label in plain).most_common(12)
    parts = [f"{len(examples)} examples", "inputs: " + ", ".join(sorted(inputs))]
    if labels and len(plain) == len(examples):
        parts.append("expected: " + ", ".join(f"{label} ({n})" for label, n in labels))
    first = [json.dumps(item.model_dump(mode="json")) for example in examples[:3] for item in example.inputs[:1]]
    return "; ".join([*parts, "e.g. " + " | ".join(first)])


def _describe(name: str, model: type[BaseModel]) -> str:
    return f"{name}: {json.dumps(model.model_json_schema())}"


def _example(demo: Demo) -> str:
    return json.dumps({"inputs": [list(p) for p in demo.inputs], "outputs": [list(p) for p in demo.outputs]})
