"""The report of `flock optimize` and `flock evaluate`: a terminal summary, JSON, and a self-contained HTML page.

The page has no script and loads nothing: its chart is inline SVG, its styles inline, and every text
that came from the workflow (labels, instructions, demos) is HTML-escaped.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from flock_core import Demo, LearnedState, Usage

from .._learning._evaluate import AgentScore, EvaluationReport
from .._learning._results import OptimizationResult, TrialRecord
from ._html import page

__all__ = [
    "AgentRow",
    "CommandReport",
    "LearnedRow",
    "Spent",
    "agent_rows",
    "agent_score_text",
    "learned_rows",
    "optimization_fields",
]

_DEMO_CHARS = 160


@dataclass(frozen=True, slots=True)
class Spent:
    """Model usage: calls, tokens and cost in US dollars."""

    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0

    @classmethod
    def of(cls, usage: Usage, cost: float = 0.0) -> Spent:
        return cls(usage.calls, usage.input_tokens, usage.output_tokens, cost)

    def __add__(self, other: Spent) -> Spent:
        return Spent(
            self.calls + other.calls,
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            round(self.cost + other.cost, 9),
        )

    def describe(self) -> str:
        tokens = self.input_tokens + self.output_tokens
        split = f"{self.input_tokens:,} in, {self.output_tokens:,} out"
        return f"{self.calls} calls, {tokens:,} tokens ({split}), ${self.cost:.4f}"


@dataclass(frozen=True, slots=True)
class AgentRow:
    """One agent's score before and after, over the runs it took part in (credit from lineage)."""

    agent: str
    before: float | None
    runs_before: int
    after: float | None
    runs_after: int


@dataclass(frozen=True, slots=True)
class LearnedRow:
    """What one output group learned: its demos (shortened) and instructions, and whether they changed."""

    agent: str
    group: int
    instructions: str | None
    demos: tuple[str, ...]
    changed: bool


@dataclass(frozen=True, slots=True)
class CommandReport:
    """Everything a report shows; `before` and `trials` are empty for `flock evaluate`."""

    command: str
    target: str
    split: str
    examples: int
    after: float
    agents: tuple[AgentRow, ...]
    evaluation: Spent
    before: float | None = None
    trials: tuple[TrialRecord, ...] = ()
    baseline_score: float | None = None
    best_score: float | None = None
    stop_reason: str | None = None
    optimization: Spent | None = None
    learned: tuple[LearnedRow, ...] = field(default=())

    def as_json(self) -> dict[str, Any]:
        """The report as plain data (`--json`)."""
        data = asdict(self)
        data["trials"] = [{**asdict(t), "usage": asdict(t.usage)} for t in self.trials]
        return data

    def text(self) -> str:
        """The terminal summary."""
        lines = [f"flock {self.command} {self.target}: {self.split} split, {self.examples} examples"]
        if self.before is not None:
            lines.append(
                f"  score: {self.before:.1%} before -> {self.after:.1%} after ({_delta(self.before, self.after)})"
            )
        else:
            lines.append(f"  score: {self.after:.1%}")
        if self.agents:
            lines.append("  per agent (mean score of the runs it took part in):")
            width = max(len(row.agent) for row in self.agents)
            for row in self.agents:
                lines.append(f"    {row.agent:<{width}}  {_agent_scores(row, compared=self.before is not None)}")
        if self.trials:
            best = "-" if self.best_score is None else f"{self.best_score:.1%}"
            baseline = "-" if self.baseline_score is None else f"{self.baseline_score:.1%}"
            lines.append(
                f"  optimization: {len(self.trials)} trials, stopped: {self.stop_reason}; "
                f"baseline {baseline}, best {best}"
            )
        if self.optimization is not None:
            lines.append(f"  spent optimizing: {self.optimization.describe()}")
        lines.append(f"  spent evaluating: {self.evaluation.describe()}")
        for row in self.learned:
            state = "changed" if row.changed else "unchanged"
            instructions = f', instructions "{_short(row.instructions, 80)}"' if row.instructions else ""
            lines.append(f"  learned {row.agent}/{row.group} ({state}): {len(row.demos)} demos{instructions}")
        return "\n".join(lines)

    def html(self) -> str:
        """The self-contained HTML page."""
        return page(self)


def agent_rows(after: EvaluationReport[Any], before: EvaluationReport[Any] | None = None) -> tuple[AgentRow, ...]:
    """Per-agent scores of `after` (and `before`), every agent that took part in either."""
    scores_after: Mapping[str, AgentScore] = after.per_agent
    scores_before: Mapping[str, AgentScore] = before.per_agent if before is not None else {}
    rows: list[AgentRow] = []
    for agent in sorted({*scores_after, *scores_before}):
        b, a = scores_before.get(agent), scores_after.get(agent)
        rows.append(
            AgentRow(
                agent,
                b.score if b else None,
                b.runs if b else 0,
                a.score if a else None,
                a.runs if a else 0,
            )
        )
    return tuple(rows)


def learned_rows(
    learned: Mapping[tuple[str, int], LearnedState], initial: Mapping[tuple[str, int], LearnedState]
) -> tuple[LearnedRow, ...]:
    """What each output group learned, compared with what it had before."""
    return tuple(
        LearnedRow(
            agent,
            group,
            state.instructions,
            tuple(_demo_line(demo) for demo in state.demos),
            _changed(state, initial.get((agent, group))),
        )
        for (agent, group), state in sorted(learned.items())
    )


def optimization_fields(result: OptimizationResult) -> dict[str, Any]:
    """The report fields an optimization fills."""
    return {
        "trials": result.trials,
        "baseline_score": result.baseline_score,
        "best_score": result.best_score,
        "stop_reason": result.stop_reason,
        "optimization": Spent.of(result.usage, result.cost),
    }


def _changed(state: LearnedState, before: LearnedState | None) -> bool:
    return before is None or before.demos != state.demos or before.instructions != state.instructions


def _demo_line(demo: Demo) -> str:
    inputs = "; ".join(f"{name} {json.dumps(payload, ensure_ascii=False)}" for name, payload in demo.inputs)
    outputs = "; ".join(f"{name} {json.dumps(payload, ensure_ascii=False)}" for name, payload in demo.outputs)
    return f"{_short(inputs, _DEMO_CHARS)} -> {_short(outputs, _DEMO_CHARS)}"


def _short(text: str | None, chars: int) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= chars else text[: chars - 1] + "…"


def _delta(before: float, after: float) -> str:
    points = (after - before) * 100
    return f"{points:+.1f} points"


def agent_score_text(score: float | None, runs: int) -> str:
    """`75.0% of 8 runs`, or `-` for an agent that took no part."""
    return "-" if score is None else f"{score:.1%} of {runs} runs"


def _agent_scores(row: AgentRow, *, compared: bool) -> str:
    after = agent_score_text(row.after, row.runs_after)
    return f"{agent_score_text(row.before, row.runs_before)} -> {after}" if compared else after
