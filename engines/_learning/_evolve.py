"""GEPA-style reflective evolution of the agents' instructions, from the traces of failing workflow runs.

The loop of GEPA (Agrawal et al., "GEPA: Reflective Prompt Evolution Can Outperform Reinforcement
Learning"), over a whole workflow: a candidate is one instruction text per output group.

1. Score the starting instructions on the evaluation set (the `baseline` trial): the first candidate.
2. Each iteration (`num_candidates` of them): pick a parent from the **Pareto pool** (the candidates
   best on at least one evaluation example, drawn in proportion to how many), run it on the next
   minibatch of the training set, pick the output group to change (round robin over the groups that
   took part in a failing run: credit from lineage), show the reflection model that group's records
   (`engines._learning._reflection`) and run the child with the new instructions on the same minibatch.
   A child that scores higher there is scored on the evaluation set and joins the pool.
3. The candidate with the best mean score on the evaluation set is applied, if it beats the baseline.

Every workflow run and every reflection call goes through the budget, so it is never exceeded; a run
cut short by the budget or a cancel ends the search with the candidates scored so far. The pool, the next
iteration and an accepted child not scored yet are saved with every completed trial (`Checkpoint.evolution`);
minibatches and parent draws are seeded, so a resumed search continues exactly as an uninterrupted one.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from opentelemetry.trace import Span

from flock_core import Engine, Flock, LearnedState, Usage

from .._meter import metering
from ._budget import Spending
from ._checkpoint import Checkpoint
from ._evaluate import ExampleResult, judge, mean
from ._examples import Metric, WorkflowExample
from ._reflection import reflect, reflective_dataset
from ._results import TrialKind, TrialRecord
from ._runner import Batch, StopReason
from ._search import Candidate
from ._traces import GroupKey, run_demos

__all__ = ["Evolution", "Hooks", "pareto_parents"]

Instructions = dict[GroupKey, str | None]
"""A candidate: the instructions of each output group (`None`: its description)."""


@dataclass(frozen=True, slots=True)
class Hooks:
    """What the evolution needs from the optimization that runs it."""

    runs: Callable[[list[WorkflowExample[Any]]], Awaitable[Batch]]
    trial: Callable[[TrialKind, str], AbstractContextManager[Span]]
    complete: Callable[[Span, TrialRecord], None]
    passes: Callable[[float], bool]
    cancelled: Callable[[], bool]


@dataclass(frozen=True, slots=True)
class _Scored:
    instructions: Instructions
    scores: tuple[float, ...]
    trial: int


class Evolution:
    """One GEPA-style search (see the module docstring); `await search()`, then `choice(baseline)`."""

    def __init__(
        self,
        flock: Flock,
        keys: Sequence[GroupKey],
        checkpoint: Checkpoint,
        data: tuple[list[WorkflowExample[Any]], list[WorkflowExample[Any]], Metric[Any]],
        *,
        reflector: Engine,
        spending: Spending,
        hooks: Hooks,
        settings: tuple[int, int, int],
    ) -> None:
        self._flock, self._keys, self._checkpoint = flock, sorted(keys), checkpoint
        self._initial = checkpoint.initial
        self._train, self._val, self._metric = data
        self._reflector, self._spending, self._hooks = reflector, spending, hooks
        self._iterations, self._minibatch_size, self._seed = settings
        self._pool: list[_Scored] = []
        self._turn, self._next = 0, 0
        self._pending: Instructions | None = None
        if checkpoint.evolution is not None:
            self._restore(checkpoint.evolution)
        self._order = list(range(len(self._train)))
        random.Random(f"{self._seed}:minibatches").shuffle(self._order)

    async def search(self) -> StopReason:
        """Score the starting instructions, then evolve for the configured number of iterations."""
        stop: StopReason = "completed"
        if not self._pool:
            stop = await self._score({key: self._current(key) for key in self._keys}, "baseline", "baseline")
        while stop == "completed":
            if self._pending is not None:  # an accepted child: score it on the evaluation set
                stop = await self._score(self._pending, "candidate", f"gepa {len(self._checkpoint.trials)}")
            elif self._next < self._iterations:
                stop = await self._iterate(self._next)
            else:
                break
        return stop

    def choice(self, baseline: float | None) -> tuple[Candidate | None, tuple[int | None, float | None]]:
        """The best evolved candidate by mean score on the evaluation set, if it beats `baseline`."""
        best: tuple[Candidate | None, tuple[int | None, float | None]] = (None, (None, baseline))
        for scored in self._pool[1:]:
            score = mean(scored.scores)
            if best[1][1] is None or score > best[1][1]:
                best = (Candidate(f"gepa {scored.trial}", self._states(scored.instructions)), (scored.trial, score))
        return best

    async def _iterate(self, iteration: int) -> StopReason:
        rng = random.Random(f"{self._seed}:parent:{iteration}")
        parent = self._pool[rng.choice(pareto_parents([s.scores for s in self._pool]))]
        examples = self._minibatch(iteration)
        label = f"iteration {iteration + 1}"
        with self._hooks.trial("reflect", label) as span:
            parent_results, stop = await self._run(parent.instructions, examples)
            if stop != "completed":
                return stop
            passed = [self._hooks.passes(r.score) for r in parent_results]
            key = self._blame(parent_results, passed)
            usage, runs = sum((r.run.usage for r in parent_results), Usage()), len(parent_results)
            if key is None:
                self._next = iteration + 1
                self._finish(span, f"{label}: every run passed", runs, usage)
                return "completed"
            new, reflection_usage, stop = await self._reflect(key, parent.instructions, parent_results, passed)
            usage = usage + reflection_usage
            if stop != "completed":
                return stop
            if new is None or new == self._text(key, parent.instructions):
                self._next = iteration + 1
                self._finish(span, f"{label}: {key[0]}/{key[1]} unchanged", runs, usage)
                return "completed"
            child = {**parent.instructions, key: new}
            child_results, stop = await self._run(child, examples)
            if stop != "completed":
                return stop
            usage, runs = usage + sum((r.run.usage for r in child_results), Usage()), runs + len(child_results)
            before, after = sum(r.score for r in parent_results), sum(r.score for r in child_results)
            accepted = after > before
            verdict = "accepted" if accepted else "rejected"
            self._next, self._pending = iteration + 1, child if accepted else None
            self._finish(span, f"{label}: {key[0]}/{key[1]} {before:g} -> {after:g} {verdict}", runs, usage)
        return "completed"

    async def _score(self, instructions: Instructions, kind: TrialKind, label: str) -> StopReason:
        """Score `instructions` on the evaluation set as one trial; a complete score joins the pool."""
        with self._hooks.trial(kind, label) as span:
            results, stop = await self._run(instructions, self._val)
            if stop != "completed":
                return stop
            index = len(self._checkpoint.trials)
            scores = tuple(r.score for r in results)
            usage = sum((r.run.usage for r in results), Usage())
            self._pool.append(_Scored(instructions, scores, index))
            self._pending = None
            self._complete(span, TrialRecord(index, kind, label, mean(scores), len(results), usage))
        return "completed"

    async def _run(
        self, instructions: Instructions, examples: list[WorkflowExample[Any]]
    ) -> tuple[list[ExampleResult[Any]], StopReason]:
        _apply(self._flock, self._keys, self._states(instructions))
        batch = await self._hooks.runs(examples)
        results = [judge(self._metric, example, run) for example, run in zip(examples, batch.runs, strict=False)]
        return results, batch.stop

    async def _reflect(
        self, key: GroupKey, instructions: Instructions, results: list[ExampleResult[Any]], passed: list[bool]
    ) -> tuple[str | None, Usage, StopReason]:
        """One reflection call on `key`'s records, if the budget admits it."""
        if self._hooks.cancelled():
            return None, Usage(), "cancelled"
        if self._spending.admit("reflection", 1) == 0:
            return None, Usage(), "budget"
        spec = self._flock.agents[key[0]]
        records = reflective_dataset(key, results, self._flock.agents, passed=passed)
        current = self._text(key, instructions)
        with metering(self._spending.meter):
            reply = await reflect(
                self._reflector, spec, key[1], current=current, examples=records, model=self._flock.model
            )
        self._spending.record("reflection", reply.usage)
        return reply.instructions, reply.usage, "completed"

    def _blame(self, results: Sequence[ExampleResult[Any]], passed: Sequence[bool]) -> GroupKey | None:
        """The output group to change (`None`: no run failed): credit from lineage. In turn, the next group that
        published something other than an example's labelled outputs in a failing run; without one, the next
        group of an agent that took part in a failing run."""
        failing = [result for result, ok in zip(results, passed, strict=True) if not ok]
        involved = {a.produced_by for r in failing for a in r.run.artifacts} | {
            e.agent for r in failing for e in r.run.errors
        }
        wrong = {key for key in self._keys if key[0] in involved and _mislabelled(key, failing, self._flock)}
        for suspects in (wrong, {key for key in self._keys if key[0] in involved}):
            for step in range(len(self._keys)):
                key = self._keys[(self._turn + step) % len(self._keys)]
                if key in suspects:
                    self._turn = (self._turn + step + 1) % len(self._keys)
                    return key
        return None

    def _minibatch(self, iteration: int) -> list[WorkflowExample[Any]]:
        """The `iteration`-th minibatch of the training set: consecutive slices of one seeded shuffle, wrapping."""
        size = min(self._minibatch_size, len(self._order))
        start = iteration * size
        return [self._train[self._order[(start + i) % len(self._order)]] for i in range(size)]

    def _text(self, key: GroupKey, instructions: Instructions) -> str:
        """The instructions `key` follows in `instructions`: its own, else its agent's description."""
        spec = self._flock.agents[key[0]]
        return instructions[key] or spec.description or f"(none: the agent is named {spec.name!r})"

    def _current(self, key: GroupKey) -> str | None:
        state = self._initial.get(key)
        return state.instructions if state is not None else None

    def _states(self, instructions: Instructions) -> dict[GroupKey, LearnedState]:
        states: dict[GroupKey, LearnedState] = {}
        for key in self._keys:
            start = self._initial.get(key, LearnedState())
            states[key] = LearnedState(start.demos, instructions.get(key), start.metadata)
        return states

    def _finish(self, span: Span, label: str, runs: int, usage: Usage) -> None:
        self._complete(span, TrialRecord(len(self._checkpoint.trials), "reflect", label, None, runs, usage))

    def _complete(self, span: Span, record: TrialRecord) -> None:
        """Complete a trial; the checkpoint saved with it holds the evolution as it stands after the trial."""
        self._checkpoint.evolution = {
            "pool": [[_encode(s.instructions), list(s.scores), s.trial] for s in self._pool],
            "turn": self._turn,
            "next": self._next,
            "pending": None if self._pending is None else _encode(self._pending),
        }
        self._hooks.complete(span, record)

    def _restore(self, saved: Mapping[str, Any]) -> None:
        self._pool = [_Scored(_decode(rows), tuple(scores), trial) for rows, scores, trial in saved["pool"]]
        self._turn, self._next = int(saved["turn"]), int(saved["next"])
        self._pending = None if saved["pending"] is None else _decode(saved["pending"])


def _encode(instructions: Instructions) -> list[list[Any]]:
    return [[agent, index, text] for (agent, index), text in sorted(instructions.items())]


def _decode(rows: Sequence[Sequence[Any]]) -> Instructions:
    return {(str(agent), int(index)): text for agent, index, text in rows}


def pareto_parents(scores: Sequence[Sequence[float]]) -> list[int]:
    """GEPA's parent choice: each candidate once per evaluation example on which it scores best (ties: all).

    >>> pareto_parents([(1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (1.0, 1.0, 0.0)])
    [0, 2, 1, 2, 0, 1, 2]
    """
    parents: list[int] = []
    for column in zip(*scores, strict=True):
        top = max(column)
        parents.extend(i for i, score in enumerate(column) if score == top)
    return parents or list(range(len(scores)))


def _mislabelled(key: GroupKey, results: Sequence[ExampleResult[Any]], flock: Flock) -> bool:
    """Whether `key` published other outputs than an example's labelled ones, for the labelled inputs."""
    for result in results:
        labelled = result.example.labelled_demos(flock.agents, [key[0]]).get(key)
        if labelled is not None:
            produced = run_demos(result.run, flock.agents, [key[0]]).get(key, [])
            if any(demo.inputs == labelled.inputs and demo.outputs != labelled.outputs for demo in produced):
                return True
    return False


def _apply(flock: Flock, keys: Sequence[GroupKey], states: Mapping[GroupKey, LearnedState]) -> None:
    for key in keys:
        state = states[key]
        if state.demos or state.instructions is not None:
            flock.learned[key] = state
        else:
            flock.learned.pop(key, None)
