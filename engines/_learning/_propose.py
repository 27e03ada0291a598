"""Instruction proposals: ask a model (through any engine) for better instructions of one output group.

A simple, grounded proposal loop in the spirit of DSPy's MIPROv2 proposer: the proposer sees the
agent's current instructions, its input and output types, a few worked examples that led to good
runs, and a tip that varies per proposal (for diversity). Every proposal is one engine call, counted
in the optimization's usage and budget like any run.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

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
from ._runner import StopReason
from ._traces import GroupKey

__all__ = ["TIPS", "InstructionProposal", "InstructionTask", "Proposal", "Proposals", "propose", "propose_all"]

_log = logging.getLogger("engines.learning")

TIPS: tuple[str, ...] = (
    "Be concise and precise.",
    "Say exactly which output values are allowed and when to use each.",
    "Describe the reasoning the agent should follow, step by step.",
    "Point out the mistakes that are easy to make on this task.",
    "Use the worked examples to describe the expected output format.",
)
"""Tips given to the proposer in turn, so that proposals for one group differ."""


class InstructionTask(BaseModel):
    """One agent of a multi-agent workflow whose instructions should be improved."""

    agent: str = Field(description="The agent's name.")
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
    engine: Engine, spec: AgentSpec, group_index: int, *, demos: Sequence[Demo], tip: str, model: str | None
) -> Proposal:
    """One instruction proposal for output group `group_index` of `spec`. A failed call proposes nothing."""
    group = spec.output_groups[group_index]
    task = InstructionTask(
        agent=spec.name,
        current_instructions=spec.description or f"(none: the agent is named {spec.name!r})",
        input_types=[_describe(n, m) for s in spec.subscriptions for n, m in zip(s.types, s.models, strict=True)],
        output_types=[_describe(n, m) for n, m in zip(group.types, group.models, strict=True)],
        good_examples=[_example(demo) for demo in demos[:3]],
        tip=tip,
    )
    artifact = Artifact(type=_TASK, payload=task.model_dump(mode="json"), correlation_id=f"propose-{spec.name}")
    request = EvaluationRequest(_PROPOSER, _PROPOSER.output_groups[0], 0, (artifact,), (task,), model=model)
    try:
        result = await engine.evaluate(request)
    except (EngineError, ContractViolation) as exc:
        _log.warning("instruction proposal for %r failed: %s", spec.name, exc)
        return Proposal(None, exc.usage or Usage())
    found = [o.instructions.strip() for o in result.outputs if isinstance(o, InstructionProposal)]
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
    pool: Mapping[GroupKey, Sequence[Demo]],
    *,
    count: int,
    model: str | None,
    spending: Spending,
    concurrency: int,
    cancelled: Callable[[], bool],
) -> Proposals:
    """`count` proposals for each group of `pool` (tip `n` for the `n`-th), `concurrency` calls at a time.

    Budget and cancellation are checked before each window of calls, as for workflow runs.
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
        replies = await _window(engine, specs, pool, window, model)
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
    pool: Mapping[GroupKey, Sequence[Demo]],
    jobs: Sequence[tuple[GroupKey, int]],
    model: str | None,
) -> list[Proposal]:
    replies = [Proposal(None, Usage())] * len(jobs)

    async def one(index: int, key: GroupKey, n: int) -> None:
        tip = TIPS[n % len(TIPS)]
        replies[index] = await propose(engine, specs[key[0]], key[1], demos=pool[key], tip=tip, model=model)

    async with anyio.create_task_group() as group:
        for index, (key, n) in enumerate(jobs):
            group.start_soon(one, index, key, n)
    return replies


def _describe(name: str, model: type[BaseModel]) -> str:
    return f"{name}: {json.dumps(model.model_json_schema())}"


def _example(demo: Demo) -> str:
    return json.dumps({"inputs": [list(p) for p in demo.inputs], "outputs": [list(p) for p in demo.outputs]})
