"""Candidate learned states: deterministic, distinct, within bounds."""

from __future__ import annotations

from engines._learning._search import bootstrapped, learns, random_candidates
from flock_core import Demo, LearnedState

POOL = {("a", 0): [Demo(inputs=(("Q", {"n": i}),), outputs=(("A", {"n": i}),)) for i in range(6)], ("b", 0): []}


def test_bootstrapped_takes_the_first_demos_and_keeps_instructions() -> None:
    initial = {("a", 0): LearnedState(instructions="Be brief.")}
    candidate = bootstrapped(POOL, initial, 2)
    assert candidate.label == "bootstrapped"
    assert candidate.states == {("a", 0): LearnedState(demos=tuple(POOL["a", 0][:2]), instructions="Be brief.")}


def test_random_candidates_are_deterministic_distinct_and_bounded() -> None:
    first = random_candidates(POOL, {}, {}, max_demos=3, count=5, seed=1)
    again = random_candidates(POOL, {}, {}, max_demos=3, count=5, seed=1)
    other = random_candidates(POOL, {}, {}, max_demos=3, count=5, seed=2)
    assert first == again != other
    assert [c.label for c in first] == [f"random {i}" for i in range(1, 6)]
    identities = {repr(c.states["a", 0].demos) for c in first}
    assert len(identities) == 5
    assert all(1 <= len(c.states["a", 0].demos) <= 3 for c in first)
    assert all(not learns(c.states["b", 0]) for c in first)


def test_proposals_mix_instructions_and_allow_no_demos() -> None:
    proposals = {("a", 0): ["Be brief.", "Be exact."]}
    candidates = random_candidates(POOL, {}, proposals, max_demos=2, count=12, seed=0)
    instructions = {c.states["a", 0].instructions for c in candidates}
    assert instructions == {None, "Be brief.", "Be exact."}
    assert any(not c.states["a", 0].demos for c in candidates)


def test_a_small_pool_gives_fewer_candidates() -> None:
    pool = {("a", 0): POOL["a", 0][:1], ("b", 0): []}
    assert random_candidates(pool, {}, {}, max_demos=4, count=5, seed=0) == []  # the only subset is bootstrapped
