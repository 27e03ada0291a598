"""The MIPROv2-style search (`optimizer="mipro"`) on the simulated model, and its tuner on its own."""

from __future__ import annotations

import logging
import runpy
from pathlib import Path
from typing import Any

import pytest

from engines import (
    Budget,
    DSPyEngine,
    OptimizationRun,
    OptimizeOptions,
    WorkflowExample,
    WorkflowRun,
    aevaluate,
    aoptimize,
    simulated_responder,
)
from engines._learning._mipro import SearchSpace, Step, Tuner, demo_sets
from engines._simulated import propose_instructions
from flock_core import Demo, Flock
from flock_core.exceptions import ConfigurationError
from flock_core.testing import FakeOpenAIServer

from .conftest import Support, right_answer
from .test_learns_from_content import CORRECT, DEV, MISLABELLED, TRAIN, Ticket, Triage, build, examples, right_category

ROUTER = Path(__file__).resolve().parents[3] / "examples" / "support_router" / "router.py"
SIMULATED = DSPyEngine("simulated")
WIDE_DEV = DEV * 3  # 18 examples: more than a minibatch


def mipro(**overrides: object) -> OptimizeOptions:
    settings: dict[str, object] = {
        "optimizer": "mipro",
        "max_demos": 3,
        "num_candidates": 8,
        "num_instructions": 2,
        "minibatch_size": 6,
        "full_eval_every": 4,
        "proposer": SIMULATED,
    }
    return OptimizeOptions(**{**settings, **overrides})  # pyright: ignore[reportArgumentType]


@pytest.mark.anyio
async def test_search_trials_score_minibatches_and_the_best_is_scored_in_full() -> None:
    flock, progress = build(), list[tuple[str, str | None]]()
    flock.events.subscribe(lambda e: progress.append((e.state, e.trial)) if e.kind == "optimization_progress" else None)
    result = await aoptimize(flock, examples(TRAIN, labelled=True), right_category, mipro(), valset=examples(WIDE_DEV))
    kinds = [t.kind for t in result.trials]
    assert kinds == [
        "bootstrap",
        "propose",
        "baseline",
        *["minibatch"] * 4,
        "candidate",
        *["minibatch"] * 4,
        "candidate",
    ]
    assert all(t.runs == 6 for t in result.trials if t.kind == "minibatch")
    assert all(t.runs == len(WIDE_DEV) for t in result.trials if t.kind in ("baseline", "candidate"))
    assert result.trials[3].label.startswith("minibatch 1: triage/0=i")
    # One progress event per trial, with its label.
    assert [trial for state, trial in progress if state == "running"] == [t.label for t in result.trials]
    # Only a full score decides, and only if it beats the baseline.
    assert result.best_trial is not None
    assert result.trials[result.best_trial].kind == "candidate"
    assert result.baseline_score is not None
    assert result.best_score is not None
    assert result.best_score > result.baseline_score
    metadata = {"optimizer": "mipro", "trial": result.best_trial, "score": result.best_score}
    assert flock.learned["triage", 0].metadata == metadata
    assert (await aevaluate(flock, examples(WIDE_DEV), right_category)).score == result.best_score


@pytest.mark.anyio
async def test_the_same_seed_gives_the_same_search_and_a_resume_replays_it(tmp_path: Path) -> None:
    train, dev = examples(TRAIN, labelled=True), examples(WIDE_DEV)
    first = await aoptimize(build(), train, right_category, mipro(), valset=dev)
    again = await aoptimize(build(), train, right_category, mipro(), valset=dev)
    other = await aoptimize(build(), train, right_category, mipro(seed=7), valset=dev)
    assert [(t.label, t.score) for t in again.trials] == [(t.label, t.score) for t in first.trials]
    assert [t.label for t in other.trials] != [t.label for t in first.trials]

    judged, run = 0, None

    def cancel_during_the_search(example: WorkflowExample[str], workflow: WorkflowRun) -> bool:
        nonlocal judged
        judged += 1
        if judged == len(train) + len(dev) + 6 * 3 and run is not None:
            run.cancel()  # bootstrap, baseline and three minibatch trials are done
        return right_category(example, workflow)

    run = OptimizationRun(build(), train, cancel_during_the_search, mipro(run_dir=tmp_path), valset=dev)
    assert (await run.run()).stop_reason == "cancelled"
    flock = build()
    resumed = await OptimizationRun(flock, train, right_category, mipro(run_dir=tmp_path), valset=dev).run()
    assert resumed.resumed_trials == 6
    assert [(t.label, t.score) for t in resumed.trials] == [(t.label, t.score) for t in first.trials]
    assert resumed.learned == first.learned


@pytest.mark.anyio
async def test_mislabelled_demo_sets_are_not_chosen() -> None:
    trainset = examples(TRAIN, labelled=True) + examples(MISLABELLED, labelled=True)
    options = mipro(max_demos=4, num_demo_sets=6, num_candidates=12, num_instructions=0)
    run = OptimizationRun(build(), trainset, right_category, options, valset=examples(WIDE_DEV))
    result = await run.run()
    wrong = {(text, label) for text, label in MISLABELLED}
    sets = run._tuner(run._checkpoint).space.demos["triage", 0]  # pyright: ignore[reportPrivateUsage]
    misleading = {n for n, demos in enumerate(sets) if any(_row(demo) in wrong for demo in demos)}
    tried = {int(t.label.split("=i0d")[1]) for t in result.trials if t.kind == "minibatch"}
    assert tried & misleading, "the search must have tried a demo set with mislabelled demos"
    chosen = result.learned["triage", 0].demos
    assert chosen
    assert not any(_row(demo) in wrong for demo in chosen)


def _row(demo: Demo) -> tuple[str, str]:
    [(_, ticket)], [(_, triage)] = demo.inputs, demo.outputs
    return ticket["text"], triage["category"]


@pytest.mark.anyio
async def test_the_budget_is_never_exceeded_counted_at_the_model_server() -> None:
    with FakeOpenAIServer(simulated_responder) as server:
        engine = DSPyEngine("openai/simulated", api_base=server.base_url, api_key="sk-fake", num_retries=0)
        flock = Flock(engine=engine)
        flock.register_type(Ticket)
        flock.register_type(Triage)
        flock.agent("triage").description("Classify the ticket.").consumes(Ticket).publishes(Triage)
        options = mipro(proposer=engine, budget=Budget(max_calls=40), concurrency=4)
        result = await aoptimize(
            flock, examples(TRAIN, labelled=True), right_category, options, valset=examples(WIDE_DEV)
        )
        assert result.stop_reason == "budget"
        assert result.usage.calls == len(server.requests) <= 40
        # bootstrap (8 runs), 2 proposals, baseline (18 runs), then minibatch trials of 6 runs while they fit
        assert [t.kind for t in result.trials] == ["bootstrap", "propose", "baseline", "minibatch", "minibatch"]
        assert len(server.requests) == 8 + 2 + 18 + 6 + 6
        assert result.best_trial is None  # no candidate was scored in full: the starting state stays
        assert flock.learned == {}


@pytest.mark.anyio
async def test_what_the_search_needs_is_checked_before_any_run(support: Support) -> None:
    flock = support.build()
    with pytest.raises(ConfigurationError, match="at least 2 training examples") as raised:
        await aoptimize(flock, support.trainset[:1], right_answer, OptimizeOptions(optimizer="mipro"))
    assert raised.value.setting == "trainset"
    with pytest.raises(ConfigurationError, match="metric must be a function") as raised:
        await aoptimize(flock, support.trainset, None, OptimizeOptions(optimizer="mipro"))  # pyright: ignore[reportArgumentType]
    assert raised.value.setting == "metric"
    with pytest.raises(ConfigurationError, match="minibatch_size"):
        OptimizeOptions(optimizer="mipro", minibatch_size=0)
    assert support.server.requests == []


@pytest.mark.anyio
async def test_a_teleprompter_that_needs_two_demos_skips_a_group_with_fewer(
    support: Support, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import importlib.util

    from dspy.teleprompt import LabeledFewShot

    class MIPROv2(LabeledFewShot):  # DSPy's MIPROv2 raises on fewer than 2 training examples, as this one
        def compile(self, student: object, *, trainset: list[object], **kwargs: object) -> object:  # pyright: ignore[reportIncompatibleMethodOverride]
            if len(trainset) < 2:
                raise ValueError("Trainset must have at least 2 examples")
            return super().compile(student, trainset=trainset)  # pyright: ignore[reportArgumentType]

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: object() if name == "optuna" else real(name))
    options = OptimizeOptions(optimizer=MIPROv2(k=2), proposer=support.proposer())
    one_easy = [support.trainset[0], *support.trainset[1:2]]  # one passing run: one demo per group
    with caplog.at_level(logging.WARNING, logger="engines.learning"):
        result = await aoptimize(support.build(), one_easy, right_answer, options)
    assert [t.kind for t in result.trials] == ["bootstrap", "teleprompter", "candidate"]
    assert result.trials[1].runs == 0  # no group compiled
    assert "MIPROv2 skips triage group 0: it needs 2 demos, the passing runs gave 1" in caplog.text


def test_the_simulated_proposer_is_grounded_in_its_examples() -> None:
    schema = '{"properties": {"category": {"enum": ["billing", "delivery", "account"]}}}'

    def shown(text: str, label: str) -> str:
        return f'{{"inputs": [["Ticket", {{"text": "{text}"}}]], "outputs": [["Triage", {{"category": "{label}"}}]]}}'

    task = {"current_instructions": "Classify.", "output_types": [f"Triage: {schema}"], "tip": "Be concise."}
    right = propose_instructions({**task, "good_examples": [shown(t, c) for t, c in CORRECT]})
    wrong = propose_instructions({**task, "good_examples": [shown(t, c) for t, c in MISLABELLED]})
    assert right.startswith("Classify.\nbilling: ")
    assert "refund" in right.split("billing: ")[1].split("\n")[0]
    assert "refund" in wrong.split("delivery: ")[1].split("\n")[0]  # grounded in mislabelled examples: misleading
    assert propose_instructions(task) == "Classify."  # nothing to ground on: the current instructions


def test_tpe_concentrates_on_what_scores_well() -> None:
    demos = [Demo(inputs=(("T", {"n": n}),), outputs=()) for n in range(6)]
    space = SearchSpace({("a", 0): [None, "x", "y", "z"]}, {("a", 0): demo_sets(demos, max_demos=2, count=4, seed=0)})
    tuner = Tuner(space, trials=24, minibatch_size=2, full_eval_every=100, evaluation_size=10, seed=3)

    def score(step: Step) -> float:
        return 1.0 if step.choice == (2, 1) else 0.5 if step.choice[0] == 2 else 0.0

    scores: list[float | None] = []
    while len(steps := tuner.replay(scores)) > len(scores):
        scores.append(score(steps[-1]))
    assert [s.kind for s in steps] == ["minibatch"] * 24 + ["full"]
    assert steps[-1].choice == (2, 1)
    guided = [s.choice[0] for s in steps[8:24]]
    assert guided.count(2) >= 12, guided  # random search would pick instruction 2 a quarter of the time
    assert tuner.replay(scores[:5]) == steps[:6]  # a pure function of the scores so far


def test_a_search_scored_in_full_tries_every_choice_once_before_any_again() -> None:
    space = SearchSpace({("a", 0): [None, "x", "y"]}, {("a", 0): [(), (), ()]})
    tuner = Tuner(space, trials=9, minibatch_size=5, full_eval_every=4, evaluation_size=5, seed=0)
    scores: list[float | None] = []
    while len(steps := tuner.replay(scores)) > len(scores):
        scores.append(float(steps[-1].choice[0]))
    assert all(s.kind == "full" for s in steps)
    assert sorted(s.choice for s in steps) == [(i, d) for i in range(3) for d in range(3)]


def test_full_evaluations_come_after_every_few_minibatches_and_after_the_last() -> None:
    space = SearchSpace({("a", 0): [None, "x"]}, {("a", 0): [(), ()]})
    tuner = Tuner(space, trials=5, minibatch_size=2, full_eval_every=2, evaluation_size=10, seed=0)
    scores: list[float | None] = []
    while len(steps := tuner.replay(scores)) > len(scores):
        scores.append(0.5 + 0.1 * len(scores))
    assert [(s.kind, s.choice) for s in steps] == [
        ("minibatch", (0, 0)),
        ("minibatch", (1, 1)),
        ("full", (1, 1)),  # the best mean minibatch score so far
        ("minibatch", (1, 0)),
        ("minibatch", (0, 1)),
        ("full", (0, 1)),
        ("minibatch", (0, 1)),
        ("full", (1, 0)),  # after the last search trial: the best not yet scored in full
    ]
    assert all(len(s.examples) == 2 for s in steps if s.kind == "minibatch")
    assert all(s.examples == tuple(range(10)) for s in steps if s.kind == "full")


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.anyio
async def test_on_the_router_mipro_does_at_least_as_well_as_random_search_at_the_same_budget() -> None:
    """Seed 0 of `router.py --compare-search` (docs/learning.md has five seeds: mipro is not ahead on every one)."""
    router: dict[str, Any] = runpy.run_path(str(ROUTER))
    found: dict[str, tuple[float | None, float, int]] = await router["compare_search"](0)
    _, random_test, random_calls = found["bootstrap_random_search"]
    _, mipro_test, mipro_calls = found["mipro"]
    assert max(random_calls, mipro_calls) <= router["SEARCH_BUDGET"].max_calls
    assert mipro_test >= random_test
