"""Learned state as JSON-compatible data, for saved files and optimization checkpoints."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from flock_core import Demo, LearnedState, Usage

__all__ = ["decode_state", "decode_usage", "encode_state", "encode_usage"]


def encode_state(state: LearnedState) -> dict[str, Any]:
    """`state` as JSON-compatible data (the payloads are already JSON-compatible)."""
    return {
        "instructions": state.instructions,
        "demos": [{"inputs": _pairs(demo.inputs), "outputs": _pairs(demo.outputs)} for demo in state.demos],
        "metadata": dict(state.metadata),
    }


def decode_state(data: Mapping[str, Any]) -> LearnedState:
    """The `LearnedState` that `encode_state` encoded (exactly: same demos, order, payloads)."""
    demos = tuple(
        Demo(inputs=_unpairs(demo["inputs"]), outputs=_unpairs(demo["outputs"]))
        for demo in cast(list[Mapping[str, Any]], data.get("demos", []))
    )
    instructions = data.get("instructions")
    metadata = cast(dict[str, Any], data.get("metadata") or {})
    return LearnedState(
        demos=demos, instructions=str(instructions) if instructions is not None else None, metadata=metadata
    )


def encode_usage(usage: Usage) -> dict[str, int]:
    """`usage` as a JSON object."""
    return {"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens, "calls": usage.calls}


def decode_usage(data: Mapping[str, Any]) -> Usage:
    """The `Usage` that `encode_usage` encoded."""
    return Usage(int(data["input_tokens"]), int(data["output_tokens"]), int(data["calls"]))


def _pairs(pairs: tuple[tuple[str, dict[str, Any]], ...]) -> list[list[Any]]:
    return [[name, payload] for name, payload in pairs]


def _unpairs(rows: list[list[Any]]) -> tuple[tuple[str, dict[str, Any]], ...]:
    return tuple((str(name), cast(dict[str, Any], payload)) for name, payload in rows)
