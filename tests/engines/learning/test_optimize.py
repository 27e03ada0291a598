"""Optimizing a two-agent workflow on a scripted model whose answers depend on its prompt (see conftest.py)."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from engines import Budget, OptimizationRun, OptimizeOptions, WorkflowRun, aevaluate, aoptimize
from engines._learning import _optimize
from engines._learning._checkpoint import CHECKPOINT_FILE
from flock_core import LearnedState
from flock_core.exceptions import ConfigurationError, UnknownAgentError

from .conftest import HOUSE_FORMAT, Support, agent_of, right_answer


@pytest.mark.anyio
async def test_bootstrap_teaches_every_agent_and_raises_the_score(support: Support) -> None:
    flock = support.build()
    before = await aevaluate(flock, support.devset, right_answer)
    result = await aoptimize(flock, support.trainset, right_answer, OptimizeOptions(max_demos=2))
    requests_before = len(support.server.requests)
    after = await aevaluate(flock, support.devset, right_answer)

    assert before.score < 0.5
    assert after.score == 1.0
    assert result.applied
    assert result.stop_reason == "completed"
    assert result.baseline_score == 0.5  # the three [easy] tickets of six
    assert sorted(flock.learned) == [("responder", 0), ("triage", 0)]
    assert all(len(state.demos) == 2 for state in flock.learned.values())
    assert flock.learned == result.learned
    triage_demo = flock.learned["triage", 0].demos[0]
    assert triage_demo.inputs == (("Ticket", {"text": "[easy] billing: I was charged twice this month"}),)
    assert triage_demo.outputs == (("Label", {"name": "BILLING"}),)
    # Every agent's prompt now carries its demos: two worked examples before the real question.
    for request in support.server.requests[requests_before:]:
        assert len(request.messages) == 2 + 2 * 2, agent_of(request)
    assert {agent_of(r) for r in support.server.requests[requests_before:]} == {"triage", "responder"}


@pytest.mark.anyio
async def test_random_search_keeps_the_best_candidate_on_the_valset(support: Support) -> None:
    flock = support.build()
    result = await aoptimize(
        flock,
        support.trainset,
        right_answer,
        OptimizeOptions(optimizer="bootstrap_random_search", num_candidates=3),
        valset=support.devset,
    )
    kinds = [(t.kind, t.label) for t in result.trials]
    assert kinds == [
        ("bootstrap", "training set"),
        ("baseline", "baseline"),
        ("candidate", "bootstrapped"),
        ("candidate", "random 1"),
        ("candidate", "random 2"),
        ("candidate", "random 3"),
    ]
    assert result.baseline_score == 0.25
    assert result.best_score == 1.0
    assert result.best_trial == 2  # the first candidate that scored 1.0 wins ties
    assert flock.learned["triage", 0].metadata == {"optimizer": "bootstrap_random_search", "trial": 2, "score": 1.0}


@pytest.mark.anyio
async def test_mipro_proposes_instructions_with_the_model(support: Support) -> None:
    flock = support.build()
    result = await aoptimize(
        flock,
        support.trainset,
        right_answer,
        OptimizeOptions(
            optimizer="mipro",
            max_demos=0,  # only instructions can help here
            num_instructions=2,
            num_candidates=4,
            proposer=support.proposer(),
        ),
    )
    assert [t.kind for t in result.trials[:2]] == ["bootstrap", "propose"]
    assert result.trials[1].runs == 4  # 2 groups x 2 proposals
    assert result.best_score == 1.0
    assert {key: state.instructions for key, state in flock.learned.items()} == {
        ("responder", 0): HOUSE_FORMAT,
        ("triage", 0): HOUSE_FORMAT,
    }
    assert all(not state.demos for state in flock.learned.values())
    after = await aevaluate(flock, support.devset, right_answer)
    assert after.score == 1.0


@pytest.mark.anyio
async def test_agents_outside_the_scope_keep_their_state(support: Support) -> None:
    flock = support.build()
    kept = LearnedState(instructions="Reply politely.")
    flock.learned["responder", 0] = kept
    result = await aoptimize(flock, support.trainset, right_answer, OptimizeOptions(agents=["triage"]))
    assert flock.learned["responder", 0] is kept
    assert set(result.learned) == {("triage", 0)}
    with pytest.raises(UnknownAgentError):
        await aoptimize(flock, support.trainset, right_answer, OptimizeOptions(agents=["nobody"]))


@pytest.mark.anyio
async def test_a_cancelled_run_resumes_and_ends_like_an_uninterrupted_one(support: Support, tmp_path: Path) -> None:
    options = OptimizeOptions(optimizer="bootstrap_random_search", num_candidates=3)
    uninterrupted = await aoptimize(support.build(), support.trainset, right_answer, options, valset=support.devset)
    options = OptimizeOptions(optimizer="bootstrap_random_search", num_candidates=3, run_dir=tmp_path)

    flock = support.build()
    judged = 0

    def cancel_after_three_trials(example: object, run: WorkflowRun) -> bool:
        nonlocal judged
        judged += 1
        if judged == len(support.trainset) + 2 * len(support.devset):
            first.cancel()  # the bootstrap, baseline and first candidate trials are done
        return right_answer(example, run)  # pyright: ignore[reportArgumentType]

    first = OptimizationRun(flock, support.trainset, cancel_after_three_trials, options, valset=support.devset)
    cancelled = await first.run()
    assert cancelled.stop_reason == "cancelled"
    assert not cancelled.applied
    assert flock.learned == {}  # the starting state is restored
    assert first.status().state == "cancelled"
    assert first.status().trials_done == 3
    assert (tmp_path / CHECKPOINT_FILE).exists()

    second = OptimizationRun(flock, support.trainset, right_answer, options, valset=support.devset)
    resumed = await second.run()
    assert resumed.resumed_trials == 3
    assert resumed.learned == uninterrupted.learned
    assert flock.learned == uninterrupted.learned
    assert [(t.kind, t.label, t.score, t.runs) for t in resumed.trials] == [
        (t.kind, t.label, t.score, t.runs) for t in uninterrupted.trials
    ]
    assert (resumed.best_score, resumed.best_trial) == (uninterrupted.best_score, uninterrupted.best_trial)
    status = second.status()
    assert (status.state, status.trials_done, status.trials_total) == ("finished", 6, 6)
    with pytest.raises(ConfigurationError, match="runs once"):
        await second.run()
    with pytest.raises(ConfigurationError, match="different optimization"):
        await aoptimize(flock, support.trainset, right_answer, OptimizeOptions(run_dir=tmp_path, max_demos=1))


@pytest.mark.anyio
async def test_the_budget_is_never_exceeded(support: Support) -> None:
    flock = support.build()
    result = await aoptimize(
        flock,
        support.trainset,
        right_answer,
        OptimizeOptions(
            optimizer="bootstrap_random_search", num_candidates=3, budget=Budget(max_calls=15), concurrency=4
        ),
    )
    assert result.stop_reason == "budget"
    # 12 calls for the bootstrap trial, 2 for one run of the first candidate; one more run could exceed 15.
    assert result.usage.calls == len(support.server.requests) == 14
    assert [(t.kind, t.runs) for t in result.trials] == [("bootstrap", 6)]  # the partial candidate trial is dropped
    assert flock.learned == {}  # and an unscored candidate never replaces the starting state

    partial = await aoptimize(
        support.build(), support.trainset, right_answer, OptimizeOptions(budget=Budget(max_calls=7))
    )
    assert partial.stop_reason == "budget"
    assert partial.usage.calls == 6  # a probe run alone, then two runs of two calls; a third could exceed 7
    assert partial.trials[0].runs == 3
    assert len(partial.learned["triage", 0].demos) == 2  # demos of the two passing runs among them

    tokens = Budget(max_tokens=2000)
    small = await aoptimize(support.build(), support.trainset, right_answer, OptimizeOptions(budget=tokens))
    assert small.stop_reason == "budget"
    assert small.usage.input_tokens + small.usage.output_tokens <= 2000


@pytest.mark.anyio
async def test_status_progress_and_one_span_per_trial(support: Support, monkeypatch: pytest.MonkeyPatch) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(_optimize, "_tracer", lambda: provider.get_tracer("engines"))
    run = OptimizationRun(support.build(), support.trainset, right_answer, valset=support.devset)
    assert run.status().state == "pending"
    assert run.status().trials_total == 3
    seen: list[tuple[str, int]] = []

    async def watch() -> None:
        while run.status().state in ("pending", "running"):
            status = run.status()
            seen.append((status.state, status.trials_done))
            await anyio.sleep(0.005)

    async with anyio.create_task_group() as group:
        group.start_soon(watch)
        await run.run()
    status = run.status()
    assert (status.state, status.trials_done, status.trials_total, status.best_score) == ("finished", 3, 3, 1.0)
    assert status.usage.calls == 2 * (6 + 4 + 4)
    assert ("running", 0) in seen
    spans = [s for s in exporter.get_finished_spans() if s.name.startswith("optimize")]
    assert [(s.name, dict(s.attributes or {}).get("flock.optimize.score")) for s in spans] == [
        ("optimize bootstrap", 0.5),
        ("optimize baseline", 0.25),
        ("optimize candidate", 1.0),
    ]


@pytest.mark.anyio
async def test_pause_holds_before_the_next_batch_and_resume_continues(support: Support) -> None:
    run = OptimizationRun(support.build(), support.trainset, right_answer, valset=support.devset)
    run.pause()
    with anyio.fail_after(30):
        async with anyio.create_task_group() as group:
            group.start_soon(run.run)
            await anyio.wait_all_tasks_blocked()  # the optimization waits for resume()
            assert run.status().state == "paused"
            assert support.server.requests == []  # nothing starts while paused
            run.resume()
    status = run.status()
    assert (status.state, status.trials_done) == ("finished", 3)


@pytest.mark.anyio
async def test_a_dspy_teleprompter_compiles_each_group(support: Support) -> None:
    from dspy.teleprompt import LabeledFewShot

    flock = support.build()
    options = OptimizeOptions(optimizer=LabeledFewShot(k=2), proposer=support.proposer())
    result = await aoptimize(flock, support.trainset, right_answer, options)
    assert [t.kind for t in result.trials] == ["bootstrap", "teleprompter", "candidate"]
    assert result.best_score == 1.0
    assert sorted(flock.learned) == [("responder", 0), ("triage", 0)]
    assert all(len(state.demos) == 2 and state.instructions is None for state in flock.learned.values())
    with pytest.raises(ConfigurationError, match="Budget"):
        OptimizeOptions(optimizer=LabeledFewShot(), budget=Budget(max_calls=1))


@pytest.mark.anyio
async def test_a_teleprompter_that_does_not_beat_the_baseline_is_not_applied(support: Support) -> None:
    from dspy.teleprompt import LabeledFewShot

    flock = support.build()
    kept = LearnedState(instructions="Reply politely.")
    flock.learned["responder", 0] = kept
    options = OptimizeOptions(optimizer=LabeledFewShot(k=0), proposer=support.proposer())
    result = await aoptimize(flock, support.trainset, right_answer, options, valset=support.devset)
    assert [t.kind for t in result.trials] == ["bootstrap", "teleprompter", "baseline", "candidate"]
    assert result.trials[3].score == result.baseline_score  # no demos learned: no better than before
    assert result.best_trial is None
    assert flock.learned == {("responder", 0): kept}


def test_mipro_v2_without_optuna_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    import dspy
    from dspy.teleprompt import MIPROv2

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None if name == "optuna" else real(name))
    lm = dspy.LM("openai/unused", api_key="sk-unused")  # MIPROv2 wants its models at construction
    teleprompter = MIPROv2(metric=lambda *_: 1.0, prompt_model=lm, task_model=lm, auto="light")  # pyright: ignore[reportUnknownArgumentType]
    with pytest.raises(ConfigurationError, match="pip install optuna"):
        OptimizeOptions(optimizer=teleprompter)


def test_options_are_checked(support: Support) -> None:
    flock = support.build()
    with pytest.raises(ConfigurationError, match="optimizer must be"):
        OptimizeOptions(optimizer="magic")  # pyright: ignore[reportArgumentType]
    with pytest.raises(ConfigurationError, match="concurrency"):
        OptimizeOptions(concurrency=0)
    with pytest.raises(ConfigurationError, match=r"budget must be an engines\.Budget, got int"):
        OptimizeOptions(budget=5)  # pyright: ignore[reportArgumentType]
    with pytest.raises(ConfigurationError, match="proposer must be an Engine"):
        OptimizeOptions(proposer="gpt")  # pyright: ignore[reportArgumentType]
    with pytest.raises(ConfigurationError, match="bootstrap_rounds"):
        OptimizeOptions(bootstrap_rounds=0)
    with pytest.raises(ConfigurationError, match="neither a built-in name nor a dspy Teleprompter"):
        OptimizeOptions(optimizer=object())  # pyright: ignore[reportArgumentType]
    with pytest.raises(ConfigurationError, match="trainset is empty"):
        OptimizationRun(flock, [], right_answer)
