"""Nested workflows: a Flock as one agent of another, with its contract, lineage, traces, cancellation, visibility."""

from __future__ import annotations

from pathlib import Path
from uuid import UUID

import anyio
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic import BaseModel

from flock_core import (
    Artifact,
    ArtifactQuery,
    EvaluationRequest,
    EvaluationResult,
    Flock,
    PublicVisibility,
    SQLiteBlackboardStore,
    TenantVisibility,
    Usage,
)
from flock_core.agents._nested import NESTED_TAG
from flock_core.exceptions import AgentDeclarationError
from flock_core.testing import FunctionEngine

pytestmark = pytest.mark.anyio


class Topic(BaseModel):
    name: str


class Claim(BaseModel):
    text: str


class Evidence(BaseModel):
    claim: str
    source: str


class Verdict(BaseModel):
    claim: str
    true: bool


def research(request: EvaluationRequest) -> list[BaseModel]:
    topic = request.payloads[0]
    assert isinstance(topic, Topic)
    return [Claim(text=f"{topic.name} is round"), Claim(text=f"{topic.name} is flat")]


def find_evidence(request: EvaluationRequest) -> list[BaseModel]:
    claim = request.payloads[0]
    assert isinstance(claim, Claim)
    return [Evidence(claim=claim.text, source="atlas")]


def judge(request: EvaluationRequest) -> list[BaseModel]:
    evidence = request.payloads[0]
    assert isinstance(evidence, Evidence)
    return [Verdict(claim=evidence.claim, true="round" in evidence.claim)]


def fact_checker(
    evidence_engine: FunctionEngine | None = None, judge_engine: FunctionEngine | None = None, **options: object
) -> Flock:
    """The inner workflow: Claim -> evidence -> Evidence -> judge -> Verdict."""
    inner = Flock(**options)  # pyright: ignore[reportArgumentType]
    for model in (Claim, Evidence, Verdict):
        inner.register_type(model)
    evidence = evidence_engine or FunctionEngine(find_evidence)
    inner.agent("evidence").consumes(Claim).publishes(Evidence).with_engines(evidence)
    inner.agent("judge").consumes(Evidence).publishes(Verdict).with_engines(judge_engine or FunctionEngine(judge))
    return inner


def researcher(inner: Flock, **options: object) -> Flock:
    """The outer workflow: Topic -> researcher -> 2 Claims -> fact_check (the inner Flock) -> Verdicts."""
    outer = Flock(**options)  # pyright: ignore[reportArgumentType]
    for model in (Topic, Claim, Evidence, Verdict):
        outer.register_type(model)
    outer.agent("researcher").consumes(Topic).publishes(Claim, fan_out=2).with_engines(FunctionEngine(research))
    outer.agent("fact_check").consumes(Claim).publishes(Verdict).runs(inner)
    return outer


def ancestors(artifact: Artifact, board: dict[UUID, Artifact]) -> list[Artifact]:
    """Every artifact `artifact`'s lineage leads back to, nearest first."""
    found: list[Artifact] = []
    frontier = list(artifact.consumed_from)
    while frontier:
        parent = board[frontier.pop(0)]
        found.append(parent)
        frontier.extend(parent.consumed_from)
    return found


async def test_a_nested_workflow_answers_as_one_agent_with_lineage_through_its_artifacts() -> None:
    outer = researcher(fact_checker())
    result = await outer.arun(Topic(name="earth"))

    assert sorted(result.get(Verdict), key=lambda v: v.claim) == [
        Verdict(claim="earth is flat", true=False),
        Verdict(claim="earth is round", true=True),
    ]
    board = {a.id: a for a in (await outer.store.query(ArtifactQuery())).items}
    verdict = next(a for a in result.artifacts if a.type == "Verdict")
    assert verdict.produced_by == "fact_check"
    lineage = ancestors(verdict, board)
    assert [(a.type, a.produced_by) for a in lineage] == [
        ("Claim", "researcher"),
        ("Verdict", "judge"),
        ("Topic", "external"),
        ("Evidence", "evidence"),
        ("Claim", "fact_check"),
        ("Claim", "researcher"),
        ("Topic", "external"),
    ]
    assert not [a for a in result.artifacts if NESTED_TAG in a.tags], "the outer workflow holds its own artifacts"
    nested = [a for a in board.values() if NESTED_TAG in a.tags]
    assert sorted(a.type for a in nested) == ["Claim", "Claim", "Evidence", "Evidence", "Verdict", "Verdict"]
    assert {a.correlation_id.rsplit("/", 1)[0] for a in nested} == {f"{verdict.correlation_id}/fact_check"}
    assert len({a.correlation_id for a in nested}) == 2, "one inner workflow per outer activation"


async def test_the_nested_artifacts_on_the_outer_board_are_never_routed_even_after_a_restart(tmp_path: Path) -> None:
    seen: list[str] = []

    def audit(request: EvaluationRequest) -> list[BaseModel]:
        seen.append(type(request.payloads[0]).__name__)
        return []

    def build() -> Flock:
        outer = researcher(fact_checker(), store=SQLiteBlackboardStore(tmp_path / "board.db"))
        outer.agent("auditor").consumes(Evidence).publishes(Verdict, fan_out=(0, 1)).with_engines(FunctionEngine(audit))
        return outer

    async with build() as outer:
        await outer.arun(Topic(name="mars"))
    async with build() as again:
        await again.run_until_idle()
        stored = (await again.store.query(ArtifactQuery(types=frozenset({"Evidence"})))).items
    assert len(stored) == 2
    assert seen == [], "an outer agent is never activated by a nested workflow's artifact"


async def test_the_outer_contract_turns_a_wrong_result_into_a_workflow_error() -> None:
    inner = Flock()
    for model in (Claim, Verdict):
        inner.register_type(model)

    def twice(request: EvaluationRequest) -> list[BaseModel]:
        claim = request.payloads[0]
        assert isinstance(claim, Claim)
        return [Verdict(claim=claim.text, true=True), Verdict(claim=claim.text, true=False)]

    inner.agent("judge").consumes(Claim).publishes(Verdict, fan_out=2).with_engines(FunctionEngine(twice))
    outer = Flock()
    outer.register_type(Claim)
    outer.agent("fact_check").consumes(Claim).publishes(Verdict).runs(inner).max_repairs(0)
    result = await outer.arun(Claim(text="water is wet"))
    [error] = result.errors
    assert (error.agent, error.error_type) == ("fact_check", "ContractViolation")
    assert "expected exactly 1 Verdict, got 2 x Verdict" in error.message
    assert result.get(Verdict) == []
    stored = (await outer.store.query(ArtifactQuery())).items
    assert not [a for a in stored if NESTED_TAG in a.tags], "a rejected run leaves no copy"


async def test_a_failing_inner_agent_is_named_in_the_outer_error() -> None:
    def broken(request: EvaluationRequest) -> list[BaseModel]:
        raise RuntimeError("the archive is offline")

    inner = fact_checker(FunctionEngine(broken))
    outer = Flock()
    outer.register_type(Claim)
    outer.agent("fact_check").consumes(Claim).publishes(Verdict).runs(inner)
    [error] = (await outer.arun(Claim(text="x"))).errors
    assert error.error_type == "EngineError"
    assert "the nested workflow failed: evidence: " in error.message
    assert "the archive is offline" in error.message


async def test_a_retried_outer_activation_runs_a_new_inner_workflow_after_a_failed_one() -> None:
    failures = [RuntimeError("the archive is offline")]

    def flaky(request: EvaluationRequest) -> list[BaseModel]:
        if failures:
            raise failures.pop()
        return find_evidence(request)

    inner = fact_checker(FunctionEngine(flaky))
    outer = Flock()
    outer.register_type(Claim)
    outer.agent("fact_check").consumes(Claim).publishes(Verdict).runs(inner).retry(2, retry_on=lambda _: True)
    result = await outer.arun(Claim(text="earth is round"))
    assert (result.get(Verdict), result.errors) == ([Verdict(claim="earth is round", true=True)], [])
    runs = {a.correlation_id for a in (await inner.store.query(ArtifactQuery())).items}
    [failed] = [cid for cid in runs if (await inner.get_correlation_status(cid)).state == "cancelled"]
    assert runs == {failed, f"{failed}~2"}, "the retry started the next inner workflow of the same outer work"
    assert (await inner.get_correlation_status(f"{failed}~2")).state == "completed"


async def test_a_repair_attempt_runs_a_new_inner_workflow() -> None:
    answers = [2, 1]

    def judge_n(request: EvaluationRequest) -> list[BaseModel]:
        claim = request.payloads[0]
        assert isinstance(claim, Claim)
        return [Verdict(claim=claim.text, true=True)] * answers.pop(0)

    inner = Flock()
    for model in (Claim, Verdict):
        inner.register_type(model)
    inner.agent("judge").consumes(Claim).publishes(Verdict, fan_out=(1, 2)).with_engines(FunctionEngine(judge_n))
    outer = Flock()
    outer.register_type(Claim)
    outer.agent("fact_check").consumes(Claim).publishes(Verdict).runs(inner).max_repairs(1)
    result = await outer.arun(Claim(text="earth is round"))
    assert (result.get(Verdict), result.errors) == ([Verdict(claim="earth is round", true=True)], [])
    assert len({a.correlation_id for a in (await inner.store.query(ArtifactQuery())).items}) == 2


async def test_inner_activations_nest_under_the_outer_activation_span() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    outer = researcher(fact_checker(tracer_provider=provider), tracer_provider=provider)
    await outer.arun(Topic(name="moon"))
    spans = exporter.get_finished_spans()

    def named(name: str) -> list[ReadableSpan]:
        return [s for s in spans if s.name == name]

    def span_id(span: ReadableSpan) -> int:
        assert span.context is not None
        return span.context.span_id

    outer_activations = {span_id(s) for s in named("invoke_agent fact_check")}
    workflows = named("invoke_workflow Claim")
    assert len(outer_activations) == 2
    assert len(workflows) == 2, "one invoke_workflow span per inner workflow"
    for workflow in workflows:
        assert workflow.parent is not None
        assert workflow.parent.span_id in outer_activations, "under the outer activation"
        assert workflow.attributes is not None
        assert workflow.attributes["gen_ai.operation.name"] == "invoke_workflow"
    inner_ids = {span_id(w) for w in workflows}
    for inner in (*named("invoke_agent evidence"), *named("invoke_agent judge")):
        assert inner.parent is not None
        assert inner.parent.span_id in inner_ids
    assert len({s.context.trace_id for s in spans if s.context is not None}) == 1, "one trace"


async def test_cancelling_the_outer_workflow_cancels_the_inner_run() -> None:
    started, stopped = anyio.Event(), anyio.Event()

    async def slow_judge(request: EvaluationRequest) -> list[BaseModel]:
        started.set()
        try:
            await anyio.sleep(60)
        finally:
            stopped.set()
        return []

    inner = fact_checker(judge_engine=FunctionEngine(slow_judge))
    outer = Flock()
    outer.register_type(Claim)
    outer.agent("fact_check").consumes(Claim).publishes(Verdict).runs(inner)
    claim = await outer.publish(Claim(text="the run stops"))
    async with anyio.create_task_group() as group:
        group.start_soon(outer.run_until_idle)
        await started.wait()
        await outer.cancel(claim.correlation_id, reason="enough")
    assert stopped.is_set()
    [inner_claim] = (await inner.store.query(ArtifactQuery(types=frozenset({"Claim"})))).items
    assert inner_claim.correlation_id.startswith(f"{claim.correlation_id}/fact_check/")
    status = await inner.get_correlation_status(inner_claim.correlation_id)
    assert status.state == "cancelled"
    assert (await outer.get_correlation_status(claim.correlation_id)).state == "cancelled"


async def test_inner_outputs_are_never_more_visible_than_the_outer_inputs() -> None:
    inner = Flock()
    for model in (Claim, Verdict):
        inner.register_type(model)

    def loud_judge(request: EvaluationRequest) -> list[BaseModel]:
        claim = request.payloads[0]
        assert isinstance(claim, Claim)
        return [Verdict(claim=claim.text, true=True)]

    inner.agent("judge").tenant("acme").consumes(Claim).publishes(
        Verdict, visibility=PublicVisibility(), declassify="inner says public"
    ).with_engines(FunctionEngine(loud_judge))
    outer = Flock()
    outer.register_type(Claim)
    outer.agent("fact_check").tenant("acme").consumes(Claim).publishes(Verdict).runs(inner)
    acme = TenantVisibility(tenant_id="acme")
    await outer.publish(Claim(text="secret"), visibility=acme)
    await outer.run_until_idle()
    board = (await outer.store.query(ArtifactQuery())).items
    inner_board = (await inner.store.query(ArtifactQuery())).items
    assert [a.visibility.kind for a in inner_board if a.type == "Verdict"] == ["declassified"]
    assert all(a.visibility == acme for a in board), "the outer board never shows it wider than the input"
    assert len(board) == 4, "the claim, the verdict, and the copies of the inner claim and verdict"


def test_runs_takes_another_flock() -> None:
    flock = Flock()
    flock.register_type(Claim)
    builder = flock.agent("fact_check").consumes(Claim).publishes(Verdict)
    with pytest.raises(AgentDeclarationError, match="cannot run its own Flock") as caught:
        builder.runs(flock)
    assert caught.value.argument == "runs"
    with pytest.raises(AgentDeclarationError, match="takes a Flock"):
        builder.runs("fact_checker")  # pyright: ignore[reportArgumentType]
    with pytest.raises(AgentDeclarationError, match="timeout"):
        builder.runs(fact_checker(), timeout=0)


class MeteredJudge:
    """An inner engine that reports model usage."""

    async def evaluate(self, request: EvaluationRequest) -> EvaluationResult:
        evidence = request.payloads[0]
        assert isinstance(evidence, Evidence)
        return EvaluationResult(outputs=[Verdict(claim=evidence.claim, true=True)], usage=Usage(100, 20, 1))


async def test_the_inner_model_usage_counts_for_the_outer_workflow() -> None:
    outer = Flock()
    outer.register_type(Claim)
    inner = fact_checker()
    inner.agent("metered").consumes(Evidence).publishes(Verdict).with_engines(MeteredJudge())
    outer.agent("fact_check").consumes(Claim).publishes(Verdict, fan_out=2).runs(inner)
    claim = await outer.publish(Claim(text="x"))
    await outer.run_until_idle()
    status = await outer.get_correlation_status(claim.correlation_id)
    assert (status.state, status.usage) == ("completed", Usage(100, 20, 1))
