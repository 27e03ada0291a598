"""Scoring a workflow on a labelled set, and the typed view of a run that metrics get."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from engines import WorkflowExample, WorkflowRun, aevaluate, evaluate
from flock_core import EvaluationRequest, Flock, Usage, WorkflowError
from flock_core.testing import FunctionEngine


class Question(BaseModel):
    text: str


class Draft(BaseModel):
    text: str


class Final(BaseModel):
    text: str


def engine(request: EvaluationRequest) -> list[BaseModel]:
    [payload] = request.payloads
    if request.agent.name == "writer":
        if payload.model_dump()["text"] == "boom":
            raise RuntimeError("the writer broke")
        return [Draft(text=payload.model_dump()["text"].upper())]
    return [Final(text=payload.model_dump()["text"] + "!")]


def make_flock() -> Flock:
    flock = Flock(engine=FunctionEngine(engine))
    for model in (Question, Draft, Final):
        flock.register_type(model)
    flock.agent("writer").consumes(Question).publishes(Draft)
    flock.agent("editor").consumes(Draft).publishes(Final)
    return flock


def exact(example: WorkflowExample[str], run: WorkflowRun) -> float:
    final = run.final(Final)
    if example.expected == "raise":
        raise ValueError("the metric broke")
    return 1.0 if final is not None and final.text == example.expected else 0.0


@pytest.mark.anyio
async def test_the_report_scores_every_example_and_keeps_the_errors() -> None:
    devset = [
        (Question(text="hi"), "HI!"),
        WorkflowExample(Question(text="yo"), "nope"),
        (Question(text="boom"), "BOOM!"),
        ([Question(text="x")], "raise"),
    ]
    report = await aevaluate(make_flock(), devset, exact, concurrency=2)
    assert [r.score for r in report.results] == [1.0, 0.0, 0.0, 0.0]
    assert report.score == 0.25
    assert [r.output for r in report.results] == [Final(text="HI!"), Final(text="YO!"), None, Final(text="X!")]
    assert report.results[0].errors == ()
    assert report.results[2].errors == ("writer: RuntimeError: the writer broke",)
    assert report.results[3].errors == ("metric: ValueError: the metric broke",)
    assert len(report.failed) == 3
    assert report.usage == Usage()
    assert [r.example.inputs for r in report.results][1] == (Question(text="yo"),)


def test_evaluate_runs_synchronously_too() -> None:
    report = evaluate(make_flock(), [(Question(text="a"), "A!")], lambda example, run: run.final(Final) is not None)
    assert report.score == 1.0


@pytest.mark.anyio
async def test_a_run_gives_typed_access_to_its_artifacts() -> None:
    report = await aevaluate(make_flock(), [(Question(text="a"), ""), (Question(text="boom"), "")], exact)
    run = report.results[0].run
    assert run.get(Draft) == [Draft(text="A")]
    assert run.final(Final) == Final(text="A!")
    assert run.final(WorkflowError) is None
    assert run.output == Final(text="A!")
    assert [a.produced_by for a in run.artifacts] == ["external", "writer", "editor"]
    failed = report.results[1].run
    assert failed.output is None
    assert [e.agent for e in failed.errors] == ["writer"]


@pytest.mark.anyio
async def test_an_empty_devset_is_refused() -> None:
    from flock_core.exceptions import ConfigurationError

    with pytest.raises(ConfigurationError, match="devset is empty"):
        await aevaluate(make_flock(), [], exact)
    with pytest.raises(ConfigurationError, match="Pydantic model"):
        WorkflowExample([], "x")


def test_scoring_runs_print_no_result_tables(capsys: pytest.CaptureFixture[str]) -> None:
    class Ticket(BaseModel):
        text: str

    class Label(BaseModel):
        name: str

    flock = Flock(engine=FunctionEngine(lambda request: [Label(name="x")]), show_results=True)
    flock.register_type(Ticket)
    flock.register_type(Label)
    flock.agent("triage").consumes(Ticket).publishes(Label)
    report = evaluate(flock, [(Ticket(text="a"), "x")], lambda example, run: run.final(Label) is not None)
    assert report.score == 1.0
    assert capsys.readouterr().out == ""
    assert flock.show_results is True  # restored for the user's own runs
