"""The MIPROv2-style search: per output group, a choice of instructions and of a demo set, picked by TPE. Pure.

The search space holds, for every output group, its instruction candidates (its starting instructions,
then the proposals) and its demo sets (none, the first `max_demos` of its pool, then seeded random
subsets). One search trial scores one joint choice on a minibatch of the evaluation set; after every
`full_eval_every` search trials, and after the last, the choice with the best mean minibatch score that
has not been fully scored yet is scored on the whole evaluation set. Only full scores decide what is
applied (and only if one beats the baseline).

Choices come from a Tree-structured Parzen Estimator (TPE, as MIPROv2 uses through optuna), written for
what this space is, every parameter categorical: the first trials are random; after them, the trials are
split into the best quarter and the rest, each parameter's value is weighted by how often it appears in
each part (plus one), and of 24 draws from the best part's weights the one with the highest
good-to-rest ratio is tried. Every step is a pure function of the seed and the scores so far, so a
resumed optimization replays exactly the choices an uninterrupted one made.
"""

from __future__ import annotations

import math
import random
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from flock_core import Demo, LearnedState

from ._checkpoint import Checkpoint
from ._options import OptimizeOptions
from ._results import TrialRecord
from ._search import Candidate
from ._traces import GroupKey

__all__ = ["SearchSpace", "Step", "Tuner", "demo_sets", "mipro_demo_sets"]

Choice = tuple[int, ...]
"""Per parameter (each group's instruction index, then its demo-set index, groups in order), the value's index."""

_STARTUP = 4
_GAMMA = 0.25
_DRAWS = 24


def demo_sets(demos: Sequence[Demo], *, max_demos: int, count: int, seed: int) -> list[tuple[Demo, ...]]:
    """Up to `count` distinct demo sets for one group: none, the first `max_demos`, then random subsets.

    >>> from flock_core import Demo
    >>> pool = [Demo(inputs=(("T", {"n": i}),), outputs=()) for i in range(5)]
    >>> [len(s) for s in demo_sets(pool, max_demos=2, count=4, seed=0)]
    [0, 2, 2, 1]
    """
    sets: list[tuple[Demo, ...]] = [()]
    if max_demos and demos:
        sets.append(tuple(demos[:max_demos]))
    rng = random.Random(f"demo-sets:{seed}:{len(demos)}")
    for _ in range(count * 10):
        if len(sets) >= count or not max_demos or not demos:
            break
        chosen = tuple(rng.sample(list(demos), rng.randint(1, min(max_demos, len(demos)))))
        if chosen not in sets:
            sets.append(chosen)
    return sets[:count] if count else sets[:1]


def mipro_demo_sets(
    pool: Mapping[GroupKey, Sequence[Demo]], key: GroupKey, options: OptimizeOptions
) -> list[tuple[Demo, ...]]:
    """The demo sets of group `key` under `options` (`num_demo_sets`, `max_demos`, `seed`)."""
    return demo_sets(pool.get(key, ()), max_demos=options.max_demos, count=options.num_demo_sets, seed=options.seed)


@dataclass(frozen=True, slots=True)
class SearchSpace:
    """What each output group may get: its instruction candidates and its demo sets."""

    instructions: Mapping[GroupKey, Sequence[str | None]]
    demos: Mapping[GroupKey, Sequence[tuple[Demo, ...]]]

    @property
    def keys(self) -> list[GroupKey]:
        return sorted(set(self.instructions) | set(self.demos))

    @property
    def sizes(self) -> list[int]:
        return [n for key in self.keys for n in (len(self.instructions.get(key, ())) or 1, len(self.demos[key]))]

    def candidate(self, label: str, choice: Choice) -> Candidate:
        """The learned state of every group under `choice`."""
        states: dict[GroupKey, LearnedState] = {}
        for n, key in enumerate(self.keys):
            texts = self.instructions.get(key) or [None]
            states[key] = LearnedState(demos=self.demos[key][choice[2 * n + 1]], instructions=texts[choice[2 * n]])
        return Candidate(label, states)

    def describe(self, choice: Choice) -> str:
        """`agent/group=i<instruction>d<demo set>` per group, e.g. `triage/0=i2d1`."""
        return " ".join(f"{a}/{g}=i{choice[2 * n]}d{choice[2 * n + 1]}" for n, (a, g) in enumerate(self.keys))


@dataclass(frozen=True, slots=True)
class Step:
    """One evaluation trial: a choice scored on some examples of the evaluation set (all of them: `full`)."""

    kind: Literal["minibatch", "full"]
    choice: Choice
    examples: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Tuner:
    """The search: which trial comes next, given the scores of the trials so far."""

    space: SearchSpace
    trials: int
    minibatch_size: int
    full_eval_every: int
    evaluation_size: int
    seed: int

    @classmethod
    def of(
        cls,
        options: OptimizeOptions,
        checkpoint: Checkpoint,
        *,
        keys: Collection[GroupKey],
        evaluation_size: int,
    ) -> Tuner:
        """The search of an optimization: every group in `keys`, its starting instructions and the proposals,
        its demo sets from the pool; `options.num_candidates` search trials on an evaluation set of that size."""
        pool, initial, proposals = checkpoint.pool or {}, checkpoint.initial, checkpoint.proposals or {}
        space = SearchSpace(
            {key: [initial[key].instructions if key in initial else None, *proposals.get(key, ())] for key in keys},
            {key: mipro_demo_sets(pool, key, options) for key in keys},
        )
        minibatch = min(options.minibatch_size, evaluation_size)
        return cls(space, options.num_candidates, minibatch, options.full_eval_every, evaluation_size, options.seed)

    def label(self, step: Step, number: int) -> str:
        """A trial's label: its number and choice, e.g. `minibatch 3: triage/0=i2d1`."""
        kind = "minibatch" if step.kind == "minibatch" else "full" if self.minibatches else "trial"
        return f"{kind} {number}: {self.space.describe(step.choice)}"

    @property
    def minibatches(self) -> bool:
        """Whether search trials score a minibatch (else each scores the whole evaluation set)."""
        return self.minibatch_size < self.evaluation_size

    def replay(self, scores: Sequence[float | None]) -> list[Step]:
        """The steps the search takes with these scores: one per score, then the next one (if any)."""
        steps: list[Step] = []
        while len(steps) <= len(scores):
            step = self._next(steps, scores)
            if step is None:
                break
            steps.append(step)
        return steps

    def in_full(self, trials: Sequence[TrialRecord]) -> list[tuple[int, Candidate, float | None]]:
        """Of the search's completed `trials`, those on the whole evaluation set: position, candidate, score."""
        steps = self.replay([trial.score for trial in trials])
        return [
            (n, self.space.candidate(trial.label, step.choice), trial.score)
            for n, (step, trial) in enumerate(zip(steps, trials, strict=False))
            if step.kind == "full"
        ]

    def _next(self, steps: Sequence[Step], scores: Sequence[float | None]) -> Step | None:
        searched = [i for i, s in enumerate(steps) if s.kind == "minibatch" or not self.minibatches]
        if self.minibatches and searched and steps[-1].kind == "minibatch":
            due = len(searched) % self.full_eval_every == 0 or len(searched) == self.trials
            if due and (choice := self._best_unscored(steps, scores)) is not None:
                return Step("full", choice, tuple(range(self.evaluation_size)))
        if len(searched) >= self.trials:
            return None
        history = [(steps[i].choice, scores[i] if i < len(scores) else None) for i in searched]
        rng = random.Random(f"mipro:{self.seed}:{len(searched)}")
        choice = self._propose(rng, history)
        if not self.minibatches:
            return Step("full", choice, tuple(range(self.evaluation_size)))
        examples = tuple(sorted(rng.sample(range(self.evaluation_size), self.minibatch_size)))
        return Step("minibatch", choice, examples)

    def _best_unscored(self, steps: Sequence[Step], scores: Sequence[float | None]) -> Choice | None:
        full = {s.choice for s in steps if s.kind == "full"}
        seen: dict[Choice, list[float]] = {}
        for step, score in zip(steps, scores, strict=False):
            if step.kind == "minibatch" and score is not None:
                seen.setdefault(step.choice, []).append(score)
        ranked = sorted(((-sum(v) / len(v), order, c) for order, (c, v) in enumerate(seen.items()) if c not in full))
        return ranked[0][2] if ranked else None

    def _propose(self, rng: random.Random, history: Sequence[tuple[Choice, float | None]]) -> Choice:
        sizes = self.space.sizes
        scored: list[tuple[Choice, float]] = [(choice, score) for choice, score in history if score is not None]
        tried = {choice for choice, _ in history}
        if len(scored) < _STARTUP:
            return self._random(rng, tried)
        ranked = [choice for _, _, choice in sorted((-score, n, choice) for n, (choice, score) in enumerate(scored))]
        cut = max(1, math.ceil(_GAMMA * len(ranked)))
        good, rest = ranked[:cut], ranked[cut:]
        good_weights = [_weights(good, p, n) for p, n in enumerate(sizes)]
        rest_weights = [_weights(rest, p, n) for p, n in enumerate(sizes)]
        best: tuple[float, Choice] | None = None
        for _ in range(_DRAWS):
            choice = tuple(rng.choices(range(n), weights=good_weights[p])[0] for p, n in enumerate(sizes))
            if choice in tried and not self.minibatches:
                continue  # a full score does not change when taken again
            gain = sum(math.log(good_weights[p][v] / rest_weights[p][v]) for p, v in enumerate(choice))
            gain -= 0.5 * (choice in tried)  # a new minibatch of a tried choice: only when clearly more promising
            if best is None or gain > best[0]:
                best = (gain, choice)
        return best[1] if best is not None else self._random(rng, tried)

    def _random(self, rng: random.Random, tried: set[Choice]) -> Choice:
        """A random choice, one not tried yet if a few draws find one."""
        sizes = self.space.sizes
        for _ in range(50):
            choice = tuple(rng.randrange(n) for n in sizes)
            if choice not in tried:
                return choice
        return tuple(rng.randrange(n) for n in sizes)


def _weights(choices: Sequence[Choice], parameter: int, size: int) -> list[float]:
    """How often each value of `parameter` appears in `choices`, plus one (a uniform prior), normalized."""
    counts = [1.0] * size
    for choice in choices:
        counts[choice[parameter]] += 1
    total = sum(counts)
    return [count / total for count in counts]
