"""Orchestration behaviour of `Flock`, driven by deterministic engines."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta

import anyio
import pytest
from pydantic import BaseModel, Field

from flock_core import (
    AfterVisibility,
    AgentComponent,
    AgentSpec,
    Artifact,
    ArtifactQuery,
    EvaluationRequest,
    EvaluationResult,
    Flock,
    LabelledVisibility,
    PrivateVisibility,
    TenantVisibility,
    Usage,
    WorkflowError,
    flock_tool,
)
from flock_core.exceptions import (
    ConfigurationError,
    EngineError,
    InputTypeError,
    PayloadValidationError,
    RunTimeoutError,
    UnknownAgentError,
)
from flock_core.testing import FunctionEngine, Script, ScriptedEngine, VirtualClock, capture

pytestmark = pytest.mark.anyio


class Idea(BaseModel):
    text: str


class Draft(BaseModel):
    text: str


class Review(BaseModel):
    score: int = Field(ge=0, le=10)


class Tag(BaseModel):
    label: str


def make_flock(engine: ScriptedEngine | FunctionEngine | None = None, **options: object) -> Flock:
    flock = Flock(engine=engine or FunctionEngine(echo), **options)  # type: ignore[arg-type]
    for model in (Idea, Draft, Review, Tag):
        flock.register_type(model)
    return flock


def echo(request: EvaluationRequest) -> list[BaseModel]:
    """One output of each declared type, derived from the first input's text."""
    text = " + ".join(str(getattr(p, "text", getattr(p, "label", "?"))) for p in request.payloads)
    outputs: list[BaseModel] = []
    for model in request.group.models:
        for i in range(request.group.fan_out.low):
            if model is Review:
                outputs.append(Review(score=7))
            elif model is Tag:
                outputs.append(Tag(label=f"{text}#{i}"))
            else:
                outputs.append(model.model_validate({"text": f"{request.agent.name}({text})#{i}"}))
    return outputs


async def test_single_agent_publishes_with_lineage() -> None:
    flock = make_flock()
    flock.agent("writer").consumes(Idea).publishes(Draft)
    source = await flock.publish(Idea(text="a"))
    await flock.run_until_idle()
    page = await flock.store.query(_by_type("Draft"))
    [draft] = page.items
    assert draft.payload == {"text": "writer(a)#0"}
    assert draft.produced_by == "writer"
    assert draft.consumed_from == (source.id,)
    assert draft.correlation_id == source.correlation_id
    assert await flock.store.consumed_pairs() == {("writer", source.id)}


@pytest.mark.parametrize("call", ["arun", "publish_many"])
async def test_several_inputs_are_all_validated_before_the_first_is_stored(call: str) -> None:
    flock = make_flock()
    flock.agent("writer").consumes(Idea).publishes(Draft)
    inputs = [Idea(text="kept out"), {"type": "Review", "payload": {"score": 11}}]
    with pytest.raises(PayloadValidationError, match="score"):
        await (flock.arun(*inputs) if call == "arun" else flock.publish_many(inputs))
    assert (await flock.store.query(ArtifactQuery())).items == ()


async def test_three_stage_pipeline() -> None:
    flock = make_flock()
    flock.agent("writer").consumes(Idea).publishes(Draft)
    flock.agent("critic").consumes(Draft).publishes(Review)
    flock.agent("tagger").consumes(Review).publishes(Tag)
    result = await flock.arun(Idea(text="x"))
    assert [a.type for a in result.artifacts] == ["Idea", "Draft", "Review", "Tag"]
    assert [a.produced_by for a in result.artifacts] == ["external", "writer", "critic", "tagger"]
    assert result.errors == []


async def test_fan_out_exact_count() -> None:
    flock = make_flock()
    flock.agent("brainstorm").consumes(Idea).publishes(Draft, fan_out=3)
    result = await flock.arun(Idea(text="x"))
    assert [d.text for d in result.get(Draft)] == ["brainstorm(x)#0", "brainstorm(x)#1", "brainstorm(x)#2"]


async def test_fan_out_range_accepts_any_count_within() -> None:
    replies = ScriptedEngine({"b": Script([Draft(text="1")], [Draft(text=str(i)) for i in range(4)])})
    flock = make_flock(replies)
    flock.agent("b").consumes(Idea).publishes(Draft, fan_out=(1, 4))
    first = await flock.arun(Idea(text="x"))
    second = await flock.arun(Idea(text="y"))
    assert len(first.get(Draft)) == 1
    assert len(second.get(Draft)) == 4


async def test_multi_type_group_is_one_engine_call() -> None:
    engine = FunctionEngine(echo)
    calls: list[EvaluationRequest] = []

    def counting(request: EvaluationRequest) -> list[BaseModel]:
        calls.append(request)
        return echo(request)

    flock = make_flock(FunctionEngine(counting))
    flock.agent("multi").consumes(Idea).publishes(Draft, Tag, fan_out=2)
    result = await flock.arun(Idea(text="x"))
    assert len(calls) == 1
    assert len(result.get(Draft)) == 2
    assert len(result.get(Tag)) == 2
    assert engine is not None


async def test_each_publishes_call_is_one_output_group() -> None:
    calls: list[int] = []

    def counting(request: EvaluationRequest) -> list[BaseModel]:
        calls.append(request.group_index)
        return echo(request)

    flock = make_flock(FunctionEngine(counting))
    flock.agent("two").consumes(Idea).publishes(Draft).publishes(Tag)
    result = await flock.arun(Idea(text="x"))
    assert calls == [0, 1]
    assert result.get(Tag) == [Tag(label="x#0")]


async def test_or_subscriptions_trigger_on_either_type() -> None:
    flock = make_flock()
    flock.agent("either").consumes(Idea).consumes(Tag).publishes(Draft)
    await flock.publish(Idea(text="i"))
    await flock.publish(Tag(label="t"))
    await flock.run_until_idle()
    assert sorted(d.text for d in await flock.store.get_by_type(Draft)) == ["either(i)#0", "either(t)#0"]


async def test_and_gate_waits_for_both_types_per_correlation() -> None:
    flock = make_flock()
    flock.agent("joiner").consumes(Idea, Tag).publishes(Draft)
    await flock.publish(Idea(text="i1"), correlation_id="c1")
    await flock.publish(Idea(text="i2"), correlation_id="c2")
    await flock.run_until_idle()
    assert await flock.store.get_by_type(Draft) == []
    assert (await flock.get_correlation_status("c1")).waiting_gate_inputs == 1
    await flock.publish(Tag(label="t2"), correlation_id="c2")
    await flock.publish(Tag(label="t1"), correlation_id="c1")
    await flock.run_until_idle()
    assert await flock.store.get_by_type(Draft, correlation_id="c1") == [Draft(text="joiner(i1 + t1)#0")]
    assert await flock.store.get_by_type(Draft, correlation_id="c2") == [Draft(text="joiner(i2 + t2)#0")]


async def test_count_gate_collects_every_artifact() -> None:
    flock = make_flock()
    flock.agent("pair").consumes(Idea, Idea).publishes(Draft)
    for text, cid in [("a", "c1"), ("x", "c2"), ("b", "c1"), ("c", "c1")]:
        await flock.publish(Idea(text=text), correlation_id=cid)
    await flock.run_until_idle()
    assert await flock.store.get_by_type(Draft, correlation_id="c1") == [Draft(text="pair(a + b)#0")]
    assert await flock.store.get_by_type(Draft, correlation_id="c2") == []
    status = await flock.get_correlation_status("c1")
    assert status.waiting_gate_inputs == 1


async def test_where_from_agents_and_tags_filter() -> None:
    flock = make_flock()
    flock.agent("writer").consumes(Idea).publishes(Draft)
    flock.agent("long").consumes(Idea, where=lambda i: len(i.text) > 3).publishes(Tag)
    flock.agent("from_writer").consumes(Draft, from_agents="writer").publishes(Review)
    flock.agent("urgent").consumes(Idea, tags={"urgent"}).publishes(Review)
    await flock.publish(Idea(text="ab"))
    await flock.publish(Idea(text="abcdef"), tags={"urgent", "x"})
    await flock.publish(Draft(text="external draft"))
    await flock.run_until_idle()
    assert [t.label for t in await flock.store.get_by_type(Tag)] == ["abcdef#0"]
    reviews = (await flock.store.query(_by_type("Review"))).items
    assert sorted(a.produced_by for a in reviews) == ["from_writer", "from_writer", "urgent"]


async def test_where_predicate_that_raises_is_rejected_with_reason() -> None:
    flock = make_flock()

    def broken(idea: Idea) -> bool:
        raise ValueError("boom")

    flock.agent("picky").consumes(Idea, where=broken).publishes(Draft)
    artifact = await flock.publish(Idea(text="a"))
    await flock.run_until_idle()
    assert await flock.store.get_by_type(Draft) == []
    [rejection] = flock.rejections
    assert (rejection.agent, rejection.artifact_id) == ("picky", artifact.id)
    assert rejection.reason == "where= predicate raised ValueError: boom"


async def test_private_artifact_never_reaches_unlisted_agent() -> None:
    flock = make_flock()
    flock.agent("insider").consumes(Idea).publishes(Draft)
    flock.agent("outsider").consumes(Idea).publishes(Tag)
    await flock.publish(Idea(text="secret"), visibility=PrivateVisibility(agents=frozenset({"insider"})))
    await flock.run_until_idle()
    assert len(await flock.store.get_by_type(Draft)) == 1
    assert await flock.store.get_by_type(Tag) == []
    assert [r.reason for r in flock.rejections] == ["not visible to the agent"]


async def test_labelled_and_tenant_visibility() -> None:
    flock = make_flock()
    flock.agent("cleared").labels("clearance:high").consumes(Idea).publishes(Draft)
    flock.agent("uncleared").consumes(Idea).publishes(Tag)
    flock.agent("acme").tenant("acme").consumes(Review).publishes(Tag)
    flock.agent("globex").tenant("globex").consumes(Review).publishes(Draft)
    await flock.publish(Idea(text="x"), visibility=LabelledVisibility(required_labels=frozenset({"clearance:high"})))
    await flock.publish(Review(score=1), visibility=TenantVisibility(tenant_id="acme"))
    await flock.run_until_idle()
    assert sorted(a.produced_by for a in (await flock.store.query(_by_type("Draft"))).items) == ["cleared"]
    assert sorted(a.produced_by for a in (await flock.store.query(_by_type("Tag"))).items) == ["acme"]


async def test_after_visibility_fires_later_not_dropped() -> None:
    clock = VirtualClock()
    flock = make_flock(clock=clock)
    flock.agent("later").consumes(Idea).publishes(Draft)
    start = clock.now()
    artifact = await flock.publish(Idea(text="x"), visibility=AfterVisibility(ttl=timedelta(hours=1)))
    assert (await flock.get_correlation_status(artifact.correlation_id)).delayed_artifacts == 1
    await flock.run_until_idle()
    [draft] = (await flock.store.query(_by_type("Draft"))).items
    assert draft.created_at - start == timedelta(hours=1)
    assert (await flock.get_correlation_status(artifact.correlation_id)).state == "completed"


async def test_circuit_breaker_on_self_loop_reports(caplog: pytest.LogCaptureFixture) -> None:
    flock = make_flock(FunctionEngine(lambda r: [Idea(text="again")]), max_agent_iterations=5)
    flock.agent("looper").consumes(Idea).publishes(Idea).prevent_self_trigger(False)
    with caplog.at_level(logging.WARNING, logger="flock_core"):
        result = await flock.arun(Idea(text="start"))
    assert len(result.get(Idea)) == 1 + 5
    [error] = result.errors
    assert error.agent == "looper"
    assert error.error_type == "CircuitBreakerTripped"
    assert "max_agent_iterations=5" in error.message
    assert "circuit breaker" in caplog.text


async def test_self_trigger_prevented_by_default() -> None:
    flock = make_flock(FunctionEngine(lambda r: [Idea(text="again")]))
    flock.agent("looper").consumes(Idea).publishes(Idea)
    result = await flock.arun(Idea(text="start"))
    assert len(result.get(Idea)) == 2
    assert result.errors == []


async def test_failing_engine_records_workflow_error_and_other_branch_completes() -> None:
    def engine(request: EvaluationRequest) -> list[BaseModel]:
        if request.agent.name == "broken":
            raise RuntimeError("model exploded")
        return echo(request)

    flock = make_flock(FunctionEngine(engine))
    flock.agent("broken").consumes(Idea).publishes(Draft)
    flock.agent("healthy").consumes(Idea).publishes(Tag)
    result = await flock.arun(Idea(text="x"))
    assert result.get(Tag) == [Tag(label="x#0")]
    assert result.get(Draft) == []
    [error] = result.errors
    assert error == WorkflowError(
        agent="broken",
        error_type="RuntimeError",
        message="model exploded",
        input_ids=[str(result.artifacts[0].id)],
    )
    [error_artifact] = [a for a in result.artifacts if a.type == "WorkflowError"]
    assert error_artifact.consumed_from == (result.artifacts[0].id,)
    assert (await flock.get_correlation_status(error_artifact.correlation_id)).state == "failed"


@pytest.mark.parametrize(
    ("reply", "error_type"),
    [
        pytest.param([Draft(text="1")], "ContractViolation", id="wrong-count"),
        pytest.param(
            [Review.model_construct(score=99), Review.model_construct(score=1)], "ContractViolation", id="invalid"
        ),
        pytest.param([Tag(label="x"), Tag(label="y")], "ContractViolation", id="undeclared-type"),
    ],
)
async def test_contract_violations_publish_nothing_invalid(reply: list[BaseModel], error_type: str) -> None:
    flock = make_flock(ScriptedEngine({"strict": reply}))
    flock.agent("strict").consumes(Idea).publishes(Review, fan_out=2).max_repairs(0)
    result = await flock.arun(Idea(text="x"))
    assert [a.type for a in result.artifacts] == ["Idea", "WorkflowError"]
    assert result.errors[0].error_type == error_type
    assert result.errors[0].agent == "strict"


async def test_contract_violation_is_repaired_with_feedback() -> None:
    engine = ScriptedEngine({"strict": Script([Review(score=1)], [Review(score=2), Review(score=3)])})
    flock = make_flock(engine)
    flock.agent("strict").consumes(Idea).publishes(Review, fan_out=2)
    result = await flock.arun(Idea(text="x"))
    assert result.get(Review) == [Review(score=2), Review(score=3)]
    first, repair = engine.requests
    assert (first.attempt, repair.attempt) == (0, 1)
    assert repair.previous_outputs == (Review(score=1),)
    assert repair.previous_error is not None
    assert repair.previous_error.errors == ("Review: expected exactly 2, got 1",)


async def test_validate_rules_and_where_filters_on_outputs() -> None:
    flock = make_flock(ScriptedEngine({"v": [Review(score=3)], "w": [Tag(label="keep"), Tag(label="drop")]}))
    flock.agent("v").consumes(Idea).publishes(Review, validate=(lambda r: r.score > 5, "score must exceed 5"))
    flock.agent("w").consumes(Idea).publishes(Tag, fan_out=2, where=lambda t: t.label == "keep")
    result = await flock.arun(Idea(text="x"))
    assert result.get(Tag) == [Tag(label="keep")]
    [error] = result.errors
    assert error.agent == "v"
    assert "score must exceed 5" in error.message


async def test_visibility_function_of_payload() -> None:
    def engine(request: EvaluationRequest) -> list[BaseModel]:
        return [Tag(label="a"), Tag(label="b")] if request.agent.name == "p" else echo(request)

    flock = make_flock(FunctionEngine(engine))

    def only_for(tag: Tag) -> PrivateVisibility:
        return PrivateVisibility(agents=frozenset({f"reader_{tag.label}"}))

    flock.agent("p").consumes(Idea).publishes(Tag, fan_out=2, visibility=only_for)
    flock.agent("reader_a").consumes(Tag).publishes(Draft)
    flock.agent("reader_b").consumes(Tag).publishes(Draft)
    await flock.arun(Idea(text="x"))
    drafts = (await flock.store.query(_by_type("Draft"))).items
    assert sorted((a.produced_by, a.payload["text"]) for a in drafts) == [
        ("reader_a", "reader_a(a)#0"),
        ("reader_b", "reader_b(b)#0"),
    ]


async def test_independent_activations_run_concurrently() -> None:
    running = 0
    peak = 0

    async def slow(request: EvaluationRequest) -> list[BaseModel]:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await anyio.sleep(0.05)
        running -= 1
        return echo(request)

    flock = make_flock(FunctionEngine(slow))
    flock.agent("brainstorm").consumes(Idea).publishes(Draft, fan_out=10)
    flock.agent("critic").consumes(Draft).publishes(Review)
    result = await flock.arun(Idea(text="x"))
    assert len(result.get(Review)) == 10
    assert peak == 10


async def test_max_concurrency_limits_one_agent() -> None:
    running = 0
    peak = 0

    async def slow(request: EvaluationRequest) -> list[BaseModel]:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await anyio.sleep(0.01)
        running -= 1
        return echo(request)

    flock = make_flock(FunctionEngine(slow))
    flock.agent("critic").consumes(Draft).publishes(Review).max_concurrency(2)
    await flock.publish_many([Draft(text=str(i)) for i in range(6)])
    await flock.run_until_idle()
    assert peak == 2


async def test_an_agent_without_a_limit_runs_as_many_as_the_flock_allows() -> None:
    running = 0
    all_started = anyio.Event()

    async def wait_for_all(request: EvaluationRequest) -> list[BaseModel]:
        nonlocal running
        running += 1
        if running == 20:
            all_started.set()
        await all_started.wait()  # never set if fewer than 20 could start
        return echo(request)

    flock = make_flock(FunctionEngine(wait_for_all), max_concurrency=20)
    flock.agent("critic").consumes(Draft).publishes(Review)
    await flock.publish_many([Draft(text=str(i)) for i in range(20)])
    with anyio.fail_after(30):
        await flock.run_until_idle()
    assert len(await flock.get_by_type(Review)) == 20


async def test_an_agent_at_its_limit_does_not_hold_back_other_agents() -> None:
    started: list[str] = []
    fast_done = anyio.Event()

    async def work(request: EvaluationRequest) -> list[BaseModel]:
        started.append(request.agent.name)
        if request.agent.name == "slow":
            await fast_done.wait()  # never set if the waiting slow items block the fast ones
        elif started.count("fast") == 3:
            fast_done.set()
        return echo(request)

    flock = make_flock(FunctionEngine(work), max_concurrency=2)
    flock.agent("slow").consumes(Idea, priority=10).publishes(Draft).max_concurrency(1)
    flock.agent("fast").consumes(Idea, priority=1).publishes(Tag)
    await flock.publish_many([Idea(text=str(i)) for i in range(3)])
    with anyio.fail_after(30):
        await flock.run_until_idle()
    assert started == ["slow", "fast", "fast", "fast", "slow", "slow"]


async def test_a_cancelled_run_keeps_the_work_it_did_not_start() -> None:
    seen: list[str] = []
    scope = anyio.CancelScope()

    def work(request: EvaluationRequest) -> list[BaseModel]:
        seen.append(str(request.payloads[0].model_dump()["text"]))
        if len(seen) == 2:
            scope.cancel()
        return echo(request)

    flock = make_flock(FunctionEngine(work), max_concurrency=1)
    flock.agent("critic").consumes(Draft).publishes(Tag)
    await flock.publish_many([Draft(text=str(i)) for i in range(5)])
    with scope:
        await flock.run_until_idle()
    assert seen == ["0", "1"]
    with anyio.fail_after(30):
        await flock.run_until_idle()
    assert seen == ["0", "1", "2", "3", "4"]
    assert len(await flock.get_by_type(Tag)) == 5


async def test_priority_orders_ready_activations() -> None:
    order: list[str] = []

    def record(request: EvaluationRequest) -> list[BaseModel]:
        order.append(request.agent.name)
        return echo(request)

    flock = make_flock(FunctionEngine(record), max_concurrency=1)
    flock.agent("low").consumes(Idea, priority=1).publishes(Draft)
    flock.agent("high").consumes(Idea, priority=10).publishes(Tag)
    flock.agent("default").consumes(Idea).publishes(Review)
    await flock.publish(Idea(text="x"))
    await flock.run_until_idle()
    assert order == ["high", "low", "default"]


async def test_best_of_keeps_highest_scoring_valid_candidate() -> None:
    scores = iter([3, 11, 9, 5])

    def candidate(request: EvaluationRequest) -> list[BaseModel]:
        return [Review.model_construct(score=next(scores))]

    flock = make_flock(FunctionEngine(candidate))
    flock.agent("judge").consumes(Idea).publishes(Review).best_of(4, score=lambda outs: outs[0].score).max_repairs(0)
    result = await flock.arun(Idea(text="x"))
    assert result.get(Review) == [Review(score=9)]


async def test_components_run_in_priority_order() -> None:
    calls: list[str] = []

    class Recorder(AgentComponent):
        def __init__(self, name: str, priority: int) -> None:
            self.name = name
            self.priority = priority

        async def on_initialize(self, agent: AgentSpec) -> None:
            calls.append(f"{self.name}:init")

        async def on_pre_consume(self, agent: AgentSpec, inputs: Sequence[Artifact]) -> Sequence[Artifact]:
            calls.append(f"{self.name}:pre_consume")
            return inputs

        async def on_post_evaluate(self, agent: AgentSpec, outputs: Sequence[BaseModel]) -> Sequence[BaseModel]:
            calls.append(f"{self.name}:post_evaluate")
            return [Draft(text="rewritten")]

        async def on_post_publish(self, agent: AgentSpec, artifacts: Sequence[Artifact]) -> None:
            calls.append(f"{self.name}:post_publish:{len(artifacts)}")

        async def on_terminate(self, agent: AgentSpec) -> None:
            calls.append(f"{self.name}:terminate")

    async with make_flock() as flock:
        flock.agent("w").consumes(Idea).publishes(Draft).with_components(Recorder("b", 2), Recorder("a", 1))
        result = await flock.arun(Idea(text="x"))
    assert result.get(Draft) == [Draft(text="rewritten")]
    assert calls == [
        "a:init",
        "b:init",
        "a:pre_consume",
        "b:pre_consume",
        "a:post_evaluate",
        "b:post_evaluate",
        "a:post_publish:1",
        "b:post_publish:1",
        "a:terminate",
        "b:terminate",
    ]


async def test_on_error_hook_sees_failure() -> None:
    seen: list[str] = []

    class Watch(AgentComponent):
        async def on_error(self, agent: AgentSpec, error: BaseException) -> None:
            seen.append(f"{agent.name}: {error}")

    flock = make_flock(ScriptedEngine({"x": Script(EngineError("x", "down"))}))
    flock.agent("x").consumes(Idea).publishes(Draft).with_components(Watch())
    result = await flock.arun(Idea(text="x"))
    assert seen == ["x: agent 'x': down"]
    assert result.errors[0].error_type == "EngineError"


async def test_invoke_runs_one_agent_directly() -> None:
    flock = make_flock()
    writer = flock.agent("writer").consumes(Idea).publishes(Draft)
    flock.agent("critic").consumes(Draft).publishes(Review)
    [draft] = await flock.invoke(writer, Idea(text="x"), publish_outputs=False)
    assert draft.payload == {"text": "writer(x)#0"}
    assert (await flock.store.query(ArtifactQuery())).total == 0
    [published] = await flock.invoke("writer", Idea(text="y"))
    await flock.run_until_idle()
    assert (await flock.store.get(published.consumed_from[0])) is not None
    assert await flock.store.get_by_type(Review) == [Review(score=7)]
    with pytest.raises(UnknownAgentError, match="unknown agent 'nobody'"):
        await flock.invoke("nobody", Idea(text="z"))
    with pytest.raises(InputTypeError) as wrong:
        await flock.invoke("writer", Draft(text="not an idea"))
    assert (wrong.value.agent, wrong.value.type_name, wrong.value.accepted) == ("writer", "Draft", ("Idea",))


async def test_publish_dict_and_typed_errors() -> None:
    flock = make_flock()
    artifact = await flock.publish({"type": "Idea", "payload": {"text": "from dict"}})
    assert artifact.payload == {"text": "from dict"}


async def test_correlation_status_counts_usage() -> None:
    def with_usage(request: EvaluationRequest) -> EvaluationResult:
        return EvaluationResult(echo(request), Usage(input_tokens=10, output_tokens=4, calls=1))

    flock = make_flock(FunctionEngine(with_usage))
    flock.agent("w").consumes(Idea).publishes(Draft)
    flock.agent("c").consumes(Draft).publishes(Review)
    artifact = await flock.publish(Idea(text="x"))
    status = await flock.get_correlation_status(artifact.correlation_id)
    assert (status.state, status.pending_activations) == ("active", 1)
    await flock.run_until_idle()
    status = await flock.get_correlation_status(artifact.correlation_id)
    assert (status.state, status.artifact_count, status.error_count) == ("completed", 3, 0)
    assert status.usage == Usage(input_tokens=20, output_tokens=8, calls=2)


async def test_run_until_idle_timeout_raises() -> None:
    async def never(request: EvaluationRequest) -> list[BaseModel]:
        await anyio.sleep(10)
        return []

    flock = make_flock(FunctionEngine(never))
    flock.agent("slow").consumes(Idea).publishes(Draft)
    await flock.publish(Idea(text="x"))
    with pytest.raises(RunTimeoutError, match=r"within 0\.05 s"):
        await flock.run_until_idle(timeout=0.05)


def test_run_is_synchronous_for_scripts() -> None:
    flock = make_flock()
    flock.agent("w").consumes(Idea).publishes(Draft)
    captured = capture(flock)
    result = flock.run(Idea(text="x"))
    assert result.get(Draft) == [Draft(text="w(x)#0")]
    assert captured.types() == ["Idea", "Draft"]


async def test_two_flocks_do_not_share_registries_or_agents() -> None:
    class Local(BaseModel):
        value: int

    first, second = Flock(), Flock()
    first.register_type(Local)
    assert "Local" in first.registry
    assert "Local" not in second.registry
    first.agent("same")
    second.agent("same")


def _by_type(name: str):
    from flock_core import ArtifactQuery

    return ArtifactQuery(types=frozenset({name}))


async def test_events_describe_the_run_in_order() -> None:
    from flock_core import FlockEvent

    def engine(request: EvaluationRequest) -> list[BaseModel]:
        if request.agent.name == "bad":
            raise RuntimeError("nope")
        return echo(request)

    flock = make_flock(FunctionEngine(engine))
    flock.agent("w").consumes(Idea).publishes(Draft)
    flock.agent("bad").consumes(Draft).publishes(Tag)
    seen: list[FlockEvent] = []
    unsubscribe = flock.events.subscribe(seen.append)
    await flock.arun(Idea(text="x"))
    unsubscribe()
    assert [e.kind for e in seen] == [
        "artifact_published",
        "activation_started",
        "artifact_published",
        "activation_finished",
        "activation_started",
        "activation_failed",
        "artifact_published",
    ]
    failed = seen[5]
    assert failed.kind == "activation_failed"
    assert (failed.agent, failed.error_type, failed.message) == ("bad", "RuntimeError", "nope")


async def test_a_run_prints_a_results_table_when_asked_and_not_when_piped(capsys: pytest.CaptureFixture[str]) -> None:
    quiet = make_flock()  # the default: only on a terminal, and pytest's output is not one
    quiet.agent("writer").consumes(Idea).publishes(Draft)
    await quiet.arun(Idea(text="x"))
    assert capsys.readouterr().out == ""
    loud = make_flock(show_results=True)
    loud.agent("writer").consumes(Idea).publishes(Draft)
    await loud.arun(Idea(text="x"))
    out = capsys.readouterr().out
    assert out.splitlines()[0].rstrip() == "Flock results: 1 artifact"
    assert "Draft" in out
    assert "writer" in out
    assert '{"text": "writer(x)#0"}' in out
    assert "Idea" not in out.split("\n", 2)[-1]  # the run's input is not a result


def test_flock_tool_marks_a_function_for_with_tools() -> None:
    @flock_tool
    def get_current_date() -> str:
        """Today's date."""
        return "2026-12-04"

    flock = make_flock()
    builder = flock.agent("a").consumes(Idea).publishes(Draft).with_tools([get_current_date])
    assert builder.spec.tools == (get_current_date,)
    assert get_current_date() == "2026-12-04"
    with pytest.raises(ConfigurationError, match="decorates a function"):
        flock_tool("not a function")  # pyright: ignore[reportArgumentType]
