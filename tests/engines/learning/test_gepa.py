"""`optimizer="gepa"`: reflective evolution of the agents' instructions from failing workflow runs.

On the simulated model, which obeys rules stated in its instructions (`If the ticket mentions "x",
answer y.`) and whose reflection answers propose such rules from the failures it is shown, the evolved
instructions must improve the support router's held-out score, and only because of what the rules say.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from engines import (
    Budget,
    DSPyEngine,
    OptimizeOptions,
    ReflectedInstructions,
    ReflectionTask,
    evaluate,
    optimize,
    simulated_responder,
)
from flock_core import EvaluationRequest, EvaluationResult, Flock, LearnedState, Usage
from flock_core.blackboard._registry import default_registry
from flock_core.exceptions import ConfigurationError
from flock_core.testing import FakeOpenAIServer, FunctionEngine

ROOT = Path(__file__).resolve().parents[3]
TINY = Path(__file__).resolve().parents[1] / "commands" / "tiny_task.py"
RULE = re.compile(r'If the ticket mentions "([^"]+)", answer (\w+)\.')


def _load(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


# The examples register their `@flock_type`s when loaded, at collection time: keep those registrations for
# this module's tests only, so later modules (`flock types` lists the global registry) never see them.
_BEFORE = default_registry.snapshot()
router: Any = _load(ROOT / "examples" / "support_router" / "router.py", "gepa_router_example")
tiny: Any = _load(TINY, "gepa_tiny_task")
_EXAMPLE_TYPES = default_registry.snapshot()
default_registry.restore(_BEFORE)


@pytest.fixture(autouse=True, scope="module")
def _example_types() -> Iterator[None]:
    saved = default_registry.snapshot()
    default_registry.restore({**saved, **_EXAMPLE_TYPES})
    yield
    default_registry.restore(saved)


def gepa(**changes: Any) -> OptimizeOptions:
    settings: dict[str, Any] = {
        "optimizer": "gepa",
        "reflection_lm": "simulated",
        "num_candidates": 6,
        "minibatch_size": 16,
        "concurrency": 28,
    }
    return OptimizeOptions(**{**settings, **changes})


class Router:
    """The support router optimized once with gepa: what the tests below compare against."""

    def __init__(self) -> None:
        self.train, self.dev, self.test = router.load_splits()
        self.flock: Flock = router.build_flock(Flock(engine=DSPyEngine("simulated")))
        self.before = self.score()
        self.result = optimize(self.flock, self.train, router.routed_correctly, gepa(), valset=self.dev)
        self.after = self.score()
        self.learned = self.flock.learned["triage", 0]

    def score(self, instructions: str | None = None) -> float:
        if instructions is not None:
            self.flock.learned["triage", 0] = LearnedState(instructions=instructions)
        return evaluate(self.flock, self.test, router.routed_correctly, concurrency=28).score


@pytest.fixture(scope="module")
def optimized() -> Router:
    return Router()


def test_gepa_improves_the_router_on_held_out_tickets(optimized: Router) -> None:
    result = optimized.result
    assert (optimized.before, optimized.after) == (pytest.approx(19 / 56), pytest.approx(34 / 56))
    assert result.baseline_score == pytest.approx(17 / 56)  # the starting instructions on dev
    assert result.best_score == pytest.approx(34 / 56)  # the evolved instructions on dev
    assert result.stop_reason == "completed"
    kinds = [trial.kind for trial in result.trials]
    assert kinds[0] == "baseline"
    assert set(kinds[1:]) == {"reflect", "candidate"}
    assert optimized.learned.demos == ()  # instructions only
    assert optimized.learned.instructions is not None
    assert optimized.learned.instructions.startswith("Classify the customer's support ticket. If the ticket")
    assert optimized.learned.metadata["optimizer"] == "gepa"
    assert set(optimized.flock.learned) == {("triage", 0)}  # the desks' reflections changed nothing


def test_the_improvement_comes_from_what_the_learned_rules_say(optimized: Router) -> None:
    learned = optimized.learned.instructions
    assert learned is not None
    assert len(RULE.findall(learned)) >= 3
    categories = ["eta", "missing_item", "driver", "other"]
    numbers = iter(range(100))
    nonsense = RULE.sub(lambda m: f'If the ticket mentions "zq{next(numbers)}x", answer {m[2]}.', learned)
    wrong = RULE.sub(
        lambda m: f'If the ticket mentions "{m[1]}", answer {categories[(categories.index(m[2]) + 1) % 4]}.', learned
    )
    assert optimized.score(learned) == pytest.approx(optimized.after)
    assert optimized.score(nonsense) == pytest.approx(optimized.before)  # rules that never apply: no effect
    assert optimized.score(wrong) < optimized.before  # the same phrases with the wrong answers: worse


def test_a_reflection_that_does_not_help_is_not_applied() -> None:
    seen: list[ReflectionTask] = []

    def says_nothing_useful(request: EvaluationRequest) -> EvaluationResult:
        seen.extend(p for p in request.payloads if isinstance(p, ReflectionTask))
        return EvaluationResult([ReflectedInstructions(instructions="Be kind and thorough.")], Usage(100, 10, 1))

    flock = tiny.build()
    start = LearnedState(instructions="Classify the support ticket.")
    flock.learned["reply", 0] = start
    options = gepa(reflection_lm=FunctionEngine(says_nothing_useful), num_candidates=3, minibatch_size=3)
    result = optimize(flock, tiny.TRAIN, tiny.right_category, options, valset=tiny.DEV)
    assert seen, "the reflection model was asked"
    task = seen[0]
    assert task.agent == "triage"
    assert task.current_instructions == "Classify the support ticket."
    first = task.examples[0]
    assert "failed" in first.feedback
    assert first.expected_outputs is not None
    assert first.expected_outputs[0][0] == "Triage"
    assert first.generated_outputs != first.expected_outputs
    assert result.best_trial is None
    assert result.best_score == result.baseline_score
    assert result.learned == {("reply", 0): start}
    assert flock.learned == {("reply", 0): start}  # the starting state is back


def test_a_child_that_does_not_beat_the_baseline_on_the_valset_is_not_applied() -> None:
    def overfits(request: EvaluationRequest) -> EvaluationResult:
        """A rule that fixes a training ticket ("...missing from the bag") and no dev ticket."""
        rule = 'Classify. If the ticket mentions "bag", answer missing_item.'
        return EvaluationResult([ReflectedInstructions(instructions=rule)], Usage(100, 10, 1))

    flock = tiny.build()
    options = gepa(reflection_lm=FunctionEngine(overfits), num_candidates=2, minibatch_size=6)
    result = optimize(flock, tiny.TRAIN, tiny.right_category, options, valset=tiny.DEV)
    reflected = [trial.label for trial in result.trials if trial.kind == "reflect"]
    assert reflected[0] == "iteration 1: triage/0 3 -> 4 accepted"  # better on the minibatch...
    scored = [trial.score for trial in result.trials if trial.kind == "candidate"]
    assert scored == [result.baseline_score]  # ...but not on the valset
    assert result.best_trial is None
    assert flock.learned == {}


def test_the_simulated_reflection_fixes_the_tiny_router() -> None:
    flock = tiny.build()
    result = optimize(flock, tiny.TRAIN, tiny.right_category, gepa(minibatch_size=3), valset=tiny.DEV)
    assert (result.baseline_score, result.best_score) == (pytest.approx(1 / 3), 1.0)
    rules = RULE.findall(flock.learned["triage", 0].instructions or "")
    assert ("miss", "missing_item") in rules  # "missing", its suffix stripped
    assert {answer for _, answer in rules} == {"missing_item"}
    assert evaluate(flock, tiny.TEST, tiny.right_category).score == 1.0


@pytest.mark.parametrize("max_calls", [1, 5, 12, 30])
def test_the_budget_bounds_every_call_workflow_and_reflection(max_calls: int) -> None:
    with FakeOpenAIServer(simulated_responder) as server:
        engine = DSPyEngine("openai/simulated", api_base=server.base_url, api_key="sk-fake", num_retries=0)
        flock = Flock(engine=engine)
        for model in (tiny.Ticket, tiny.Triage, tiny.Reply):
            flock.register_type(model)
        flock.agent("triage").description("Classify.").consumes(tiny.Ticket).publishes(tiny.Triage)
        flock.agent("reply").description("Answer the customer.").consumes(tiny.Triage).publishes(tiny.Reply)
        options = gepa(reflection_lm=engine, minibatch_size=3, budget=Budget(max_calls=max_calls), concurrency=4)
        result = optimize(flock, tiny.TRAIN, tiny.right_category, options, valset=tiny.DEV)
        served = len(server.requests)
    assert served <= max_calls
    assert result.usage.calls == served  # every call served is counted, reflections included
    assert result.stop_reason == "budget"


@pytest.mark.parametrize("max_calls", [12, 30, 45])
def test_a_gepa_optimization_stopped_by_the_budget_resumes_where_it_stopped(tmp_path: Path, max_calls: int) -> None:
    """12 calls stop it in the first iteration, 30 between a reflection and the scoring of its child, 45 later;
    resumed without a limit, it ends exactly as an uninterrupted optimization."""
    options = gepa(minibatch_size=3, num_candidates=3, concurrency=4)
    whole = optimize(tiny.build(), tiny.TRAIN, tiny.right_category, options, valset=tiny.DEV)
    limited = dataclasses.replace(options, run_dir=tmp_path, budget=Budget(max_calls=max_calls))
    stopped = optimize(tiny.build(), tiny.TRAIN, tiny.right_category, limited, valset=tiny.DEV)
    assert stopped.stop_reason == "budget"
    assert stopped.usage.calls <= max_calls
    flock = tiny.build()
    resumed = optimize(
        flock,
        tiny.TRAIN,
        tiny.right_category,
        dataclasses.replace(options, run_dir=tmp_path),
        valset=tiny.DEV,
    )
    assert resumed.resumed_trials == len(stopped.trials) > 0
    assert [(t.kind, t.label, t.score) for t in resumed.trials] == [(t.kind, t.label, t.score) for t in whole.trials]
    assert resumed.learned == whole.learned


def test_reflection_lm_must_be_a_model_name_or_an_engine() -> None:
    with pytest.raises(ConfigurationError, match="reflection_lm must be a model name or an Engine, got int"):
        OptimizeOptions(optimizer="gepa", reflection_lm=3)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="minibatch_size"):
        OptimizeOptions(optimizer="gepa", minibatch_size=0)
