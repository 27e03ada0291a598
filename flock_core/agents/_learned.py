"""What a workflow learned: per-agent, per-output-group demonstrations and instructions (plain data)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Demo", "LearnedState"]


@dataclass(frozen=True, slots=True)
class Demo:
    """One worked example for an output group: typed inputs and the outputs that were judged good.

    Attributes:
        inputs: `(type name, payload)` pairs, in the order the engine received them.
        outputs: `(type name, payload)` pairs of the published outputs.
    """

    inputs: tuple[tuple[str, dict[str, Any]], ...]
    outputs: tuple[tuple[str, dict[str, Any]], ...]


@dataclass(frozen=True, slots=True)
class LearnedState:
    """The learned parameters of one output group: demonstrations and optionally new instructions.

    Engines that support learning (the DSPy engine) add the demos to the prompt and use `instructions`
    instead of the agent description when set; other engines ignore it.
    """

    demos: tuple[Demo, ...] = ()
    instructions: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict[str, Any])
