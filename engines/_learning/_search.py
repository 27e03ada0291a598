"""Candidate learned states: which demos (and instructions) each output group gets in one trial, and applying
them to a Flock (the only impure part).

A candidate maps `(agent, group index)` to the state to try (an empty state: nothing learned). Groups
not in a candidate keep the state they had when the optimization started. The same pool, proposals
and seed always give the same candidates, in the same order, so a resumed optimization tries exactly
what an uninterrupted one would.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flock_core import Demo, Flock, LearnedState
from flock_core.exceptions import UnknownAgentError

from ._codec import encode_state
from ._traces import GroupKey

__all__ = [
    "Candidate",
    "apply_states",
    "bootstrapped",
    "in_scope",
    "learns",
    "random_candidates",
    "with_metadata",
]


@dataclass(frozen=True, slots=True)
class Candidate:
    """A learned state per output group, to be tried together (one trial)."""

    label: str
    states: Mapping[GroupKey, LearnedState]


def bootstrapped(
    pool: Mapping[GroupKey, Sequence[Demo]], initial: Mapping[GroupKey, LearnedState], max_demos: int
) -> Candidate:
    """The first `max_demos` demos of each group's pool (training-set order), with its initial instructions."""
    states = {
        key: LearnedState(demos=tuple(demos[:max_demos]), instructions=_instructions(initial, key))
        for key, demos in sorted(pool.items())
        if demos
    }
    return Candidate("bootstrapped", states)


def random_candidates(
    pool: Mapping[GroupKey, Sequence[Demo]],
    initial: Mapping[GroupKey, LearnedState],
    proposals: Mapping[GroupKey, Sequence[str]],
    *,
    max_demos: int,
    count: int,
    seed: int,
) -> list[Candidate]:
    """Up to `count` distinct random candidates (the bootstrapped one excluded).

    Each group gets a random subset of its pool: 1 to `max_demos` demos, or 0 to `max_demos` when
    instructions are proposed too; and, when there are proposals, one of them or its initial instructions.
    """
    keys = sorted(set(pool) | set(proposals))
    seen = {_identity(bootstrapped(pool, initial, max_demos), initial)}
    candidates: list[Candidate] = []
    for attempt in range(count * 10):
        if len(candidates) == count:
            break
        rng = random.Random(f"{seed}:{attempt}")
        states = {
            key: _pick(rng, key, pool=pool, initial=initial, proposals=proposals, max_demos=max_demos) for key in keys
        }
        candidate = Candidate(f"random {len(candidates) + 1}", states)
        if (identity := _identity(candidate, initial)) not in seen:
            seen.add(identity)
            candidates.append(candidate)
    return candidates


def _pick(
    rng: random.Random,
    key: GroupKey,
    *,
    pool: Mapping[GroupKey, Sequence[Demo]],
    initial: Mapping[GroupKey, LearnedState],
    proposals: Mapping[GroupKey, Sequence[str]],
    max_demos: int,
) -> LearnedState:
    demos = list(pool.get(key, ()))
    options = [_instructions(initial, key), *proposals.get(key, ())]
    fewest = 0 if proposals else 1
    size = rng.randint(min(fewest, len(demos)), min(max_demos, len(demos)))
    chosen = rng.sample(demos, size)
    return LearnedState(demos=tuple(chosen), instructions=options[rng.randrange(len(options))])


def _instructions(initial: Mapping[GroupKey, LearnedState], key: GroupKey) -> str | None:
    state = initial.get(key)
    return state.instructions if state is not None else None


def _identity(candidate: Candidate, initial: Mapping[GroupKey, LearnedState]) -> str:
    """What applying `candidate` sets, as text: two candidates that set the same states are the same."""
    effective = {**initial, **candidate.states}
    return json.dumps([[*k, encode_state(s)] for k, s in sorted(effective.items()) if learns(s)], sort_keys=True)


def learns(state: LearnedState) -> bool:
    """Whether `state` changes anything (demos or instructions)."""
    return bool(state.demos) or state.instructions is not None


def apply_states(flock: Flock, keys: frozenset[GroupKey], states: Mapping[GroupKey, LearnedState]) -> None:
    """Set the learned state of every group in `keys` to its entry in `states` (no entry: nothing learned)."""
    for key in keys:
        state = states.get(key)
        if state is not None and learns(state):
            flock.learned[key] = state
        else:
            flock.learned.pop(key, None)


def in_scope(flock: Flock, agents: Iterable[str] | None) -> tuple[str, ...]:
    """The names of `agents` (default: all of the Flock's), sorted; an unknown one raises `UnknownAgentError`."""
    names = tuple(sorted(flock.agents if agents is None else set(agents)))
    for name in names:
        if name not in flock.agents:
            raise UnknownAgentError(name, list(flock.agents))
    return names


def with_metadata(state: LearnedState, metadata: Mapping[str, Any]) -> LearnedState:
    """`state` with `metadata` added to its own."""
    return LearnedState(state.demos, state.instructions, {**state.metadata, **metadata})
