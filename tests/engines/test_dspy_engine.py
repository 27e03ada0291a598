from __future__ import annotations

import math
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Literal

import anyio
import pytest
from dirty_equals import IsStr
from pydantic import BaseModel, Field

from engines import DSPyEngine, override_allow_model_requests
from flock_core import (
    AgentSpec,
    EvaluationRequest,
    EvaluationResult,
    FanOut,
    Flock,
    OutputGroup,
    Subscription,
    Tick,
    Usage,
    WorkflowError,
)
from flock_core.agents._contract import enforce_contract
from flock_core.exceptions import ConfigurationError, ContractViolation, EngineError
from flock_core.testing import ChatRequest, FakeOpenAIServer

pytestmark = pytest.mark.anyio

ChatReply = Callable[..., str]
RequestFactory = Callable[..., EvaluationRequest]


class Topic(BaseModel):
    name: str


class Report(BaseModel):
    title: str = Field(min_length=3, max_length=60)
    score: int = Field(ge=1, le=10)
    kind: Literal["memo", "brief"]


class Summary(BaseModel):
    text: str


def spec(
    *publishes: type[BaseModel], fan_out: FanOut | None = None, consumes: tuple[type[BaseModel], ...] = (Topic,)
) -> AgentSpec:
    return AgentSpec(
        "analyst",
        "Write reports about the topic.",
        subscriptions=(Subscription(tuple(m.__name__ for m in consumes), consumes),),
        output_groups=(OutputGroup(tuple(m.__name__ for m in publishes), publishes, fan_out or FanOut()),),
    )


REPORT = Report(title="Cats rule", score=7, kind="memo")


# -- the offline model ---------------------------------------------------------------------------------


async def test_offline_single_output_is_typed_and_reports_usage(request_for: RequestFactory) -> None:
    result = await DSPyEngine("offline").evaluate(request_for(spec(Report), Topic(name="cats")))
    [report] = result.outputs
    assert isinstance(report, Report)
    assert report.title.startswith("synthetic")
    assert result.usage == Usage(
        input_tokens=result.usage.input_tokens, output_tokens=result.usage.output_tokens, calls=1
    )
    assert result.usage.input_tokens > 100
    assert result.usage.output_tokens > 5


@pytest.mark.parametrize("adapter", ["chat", "json", "xml", "two_step", "baml"])
@pytest.mark.parametrize("program", ["predict", "chain_of_thought", "react"])
async def test_offline_outputs_pass_the_contract_for_every_adapter_and_program(
    request_for: RequestFactory,
    adapter: Literal["chat", "json", "xml", "two_step", "baml"],
    program: Literal["predict", "chain_of_thought", "react"],
) -> None:
    agent = spec(Report, Summary, fan_out=FanOut(3))
    result = await DSPyEngine("offline", adapter=adapter, program=program).evaluate(request_for(agent, Topic(name="x")))
    valid = enforce_contract("analyst", agent.output_groups[0], result.outputs)
    assert [type(o).__name__ for o in valid] == ["Report"] * 3 + ["Summary"] * 3


async def test_offline_fan_out_range_stays_in_range(request_for: RequestFactory) -> None:
    agent = spec(Summary, fan_out=FanOut(2, 4))
    counts = set()
    for name in ("a", "b", "c", "d", "e", "f"):
        result = await DSPyEngine("offline").evaluate(request_for(agent, Topic(name=name)))
        counts.add(len(result.outputs))
    assert counts <= {2, 3, 4}
    assert len(counts) > 1


async def test_offline_is_deterministic_per_input(request_for: RequestFactory) -> None:
    agent = spec(Report, fan_out=FanOut(2))
    engine = DSPyEngine("offline")
    first = await engine.evaluate(request_for(agent, Topic(name="cats")))
    again = await DSPyEngine("offline").evaluate(request_for(agent, Topic(name="cats")))
    other = await engine.evaluate(request_for(agent, Topic(name="dogs")))
    assert first.outputs == again.outputs
    assert first.outputs != other.outputs


# -- model resolution and the request switch ------------------------------------------------------------


async def test_model_resolution_prefers_engine_then_flock_then_env(
    request_for: RequestFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOCK_MODEL", "openai/from-env")
    with pytest.raises(ConfigurationError, match="openai/from-env"):
        await DSPyEngine().evaluate(request_for(spec(Report), Topic(name="x")))
    with pytest.raises(ConfigurationError, match="openai/from-flock"):
        await DSPyEngine().evaluate(request_for(spec(Report), Topic(name="x"), model="openai/from-flock"))
    result = await DSPyEngine("offline").evaluate(request_for(spec(Report), Topic(name="x"), model="openai/from-flock"))
    assert len(result.outputs) == 1
    monkeypatch.setenv("FLOCK_MODEL", "offline")
    assert len((await DSPyEngine().evaluate(request_for(spec(Report), Topic(name="x")))).outputs) == 1


async def test_no_model_says_how_to_set_one(request_for: RequestFactory) -> None:
    with pytest.raises(ConfigurationError) as caught:
        await DSPyEngine().evaluate(request_for(spec(Report), Topic(name="x")))
    assert "FLOCK_MODEL" in str(caught.value)
    assert "model='offline'" in str(caught.value)


async def test_real_requests_fail_loudly_before_any_network_use(request_for: RequestFactory) -> None:
    engine = DSPyEngine("openai/gpt-4.1-mini", api_base="https://api.example.com/v1")
    with pytest.raises(ConfigurationError, match="FLOCK_ALLOW_MODEL_REQUESTS"):
        await engine.evaluate(request_for(spec(Report), Topic(name="x")))
    with override_allow_model_requests(True), pytest.raises(EngineError, match="tests may only connect to loopback"):
        await DSPyEngine(
            "openai/gpt-4.1-mini", api_base="https://api.example.com/v1", api_key="sk-x", num_retries=0
        ).evaluate(request_for(spec(Report), Topic(name="x")))


async def test_a_loopback_server_in_lm_kwargs_is_allowed(request_for: RequestFactory, chat_reply: ChatReply) -> None:
    with FakeOpenAIServer(replies=[chat_reply(report=REPORT)]) as server:
        engine = DSPyEngine("openai/gpt-4.1-mini", lm_kwargs={"api_base": server.base_url, "api_key": "sk-fake"})
        result = await engine.evaluate(request_for(spec(Report), Topic(name="x")))
    assert result.outputs == [REPORT]


async def test_a_scheduled_activation_without_inputs(request_for: RequestFactory) -> None:
    agent = AgentSpec("clock", "Report the hour.", output_groups=(OutputGroup(("Report",), (Report,)),))
    result = await DSPyEngine("offline").evaluate(request_for(agent, tick=Tick(3, datetime(2026, 1, 1, tzinfo=UTC))))
    assert [type(o) for o in result.outputs] == [Report]


@pytest.mark.parametrize(
    "options",
    [{"adapter": "yaml"}, {"program": "tree_of_thought"}, {"backend": "requests"}, {"num_retries": -1}, {"timeout": 0}],
)
def test_invalid_options_are_configuration_errors(options: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError):
        DSPyEngine("offline", **options)  # pyright: ignore[reportArgumentType]


def test_repr_never_shows_the_api_key() -> None:
    engine = DSPyEngine("openai/gpt-4.1-mini", api_key="sk-very-secret")
    assert "sk-very-secret" not in repr(engine)
    assert "sk-very-secret" not in repr(engine.settings)


def test_constructing_an_engine_loads_neither_dspy_nor_litellm() -> None:
    code = "import sys, engines; engines.DSPyEngine(); print(sorted({'dspy', 'litellm'} & set(sys.modules)))"
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "[]"


# -- the real HTTP path, against a loopback fake server ------------------------------------------------


def engine_for(server: FakeOpenAIServer, **options: object) -> DSPyEngine:
    settings: dict[str, object] = {"api_base": server.base_url, "api_key": "sk-fake", **options}
    return DSPyEngine("openai/gpt-4.1-mini", **settings)  # pyright: ignore[reportArgumentType]


def expected_usage(server: FakeOpenAIServer, reply: str) -> Usage:
    """The fake server's token counts, priced as LiteLLM's bundled map prices gpt-4.1-mini ($0.40 / $1.60 per 1M)."""
    input_tokens, output_tokens = math.ceil(server.prompt_chars(0) / 4), math.ceil(len(reply) / 4)
    return Usage(input_tokens, output_tokens, 1, round(input_tokens * 4e-07 + output_tokens * 1.6e-06, 9))


@pytest.mark.parametrize("backend", ["auto", "litellm"])
async def test_reply_is_parsed_into_typed_outputs_with_usage(
    request_for: RequestFactory, chat_reply: ChatReply, backend: str
) -> None:
    reply = chat_reply(report=REPORT)
    with FakeOpenAIServer(replies=[reply]) as server:
        result = await engine_for(server, backend=backend).evaluate(request_for(spec(Report), Topic(name="cats")))
    assert result == EvaluationResult(outputs=[REPORT], usage=expected_usage(server, reply))
    [sent] = server.requests
    assert sent.model == "gpt-4.1-mini"
    assert sent.messages[0] == {"role": "system", "content": IsStr(regex=r"(?s).*Write reports about the topic\..*")}
    assert '{"name":"cats"}' in sent.messages[-1]["content"].replace(" ", "")


@pytest.mark.parametrize("backend", ["auto", "litellm"])
async def test_twenty_concurrent_calls_overlap(
    request_for: RequestFactory, chat_reply: ChatReply, backend: str
) -> None:
    with FakeOpenAIServer(replies=[chat_reply(report=REPORT)], latency=0.5) as server:
        engine = engine_for(server, backend=backend)
        await engine.evaluate(request_for(spec(Report), Topic(name="warm-up")))
        results: list[EvaluationResult] = []

        async def one(index: int) -> None:
            results.append(await engine.evaluate(request_for(spec(Report), Topic(name=f"t{index}"))))

        async with anyio.create_task_group() as group:
            for index in range(20):
                group.start_soon(one, index)
        peak = server.peak_concurrency
    assert len(results) == 20
    assert all(r.outputs == [REPORT] for r in results)
    assert peak >= 4  # calls overlap (serial calls would hold one at a time); no wall-clock assertion


async def test_malformed_reply_is_a_contract_violation_without_a_second_call(request_for: RequestFactory) -> None:
    with FakeOpenAIServer(faults={0: "malformed"}) as server:
        with pytest.raises(ContractViolation) as caught:
            await engine_for(server).evaluate(request_for(spec(Report), Topic(name="x")))
        assert len(server.requests) == 1
    violation = caught.value
    assert violation.agent == "analyst"
    assert "report" in violation.expected
    assert FakeOpenAIServer.MALFORMED_REPLY[:20] in violation.got
    assert violation.errors == ("missing output field(s): report",)


async def test_invalid_field_value_is_a_contract_violation_naming_the_field(
    request_for: RequestFactory, chat_reply: ChatReply
) -> None:
    reply = chat_reply(report={"title": "ok title", "score": 99, "kind": "memo"})
    with FakeOpenAIServer(replies=[reply]) as server, pytest.raises(ContractViolation) as caught:
        await engine_for(server).evaluate(request_for(spec(Report), Topic(name="x")))
    assert any("Failed to parse field report" in error and "score" in error for error in caught.value.errors)


@pytest.mark.parametrize(("fault", "backend"), [("http_429", "auto"), ("http_429", "litellm"), ("http_500", "auto")])
async def test_transient_errors_are_retried(
    request_for: RequestFactory, chat_reply: ChatReply, fault: Literal["http_429", "http_500"], backend: str
) -> None:
    with FakeOpenAIServer(replies=[chat_reply(report=REPORT)], faults={0: fault}) as server:
        result = await engine_for(server, num_retries=1, backend=backend).evaluate(
            request_for(spec(Report), Topic(name="x"))
        )
    assert result.outputs == [REPORT]
    assert len(server.requests) == 2
    assert result.usage.calls == 1


async def test_errors_beyond_num_retries_are_engine_errors(request_for: RequestFactory, chat_reply: ChatReply) -> None:
    with FakeOpenAIServer(replies=[chat_reply(report=REPORT)], faults={0: "http_429", 1: "http_429"}) as server:
        with pytest.raises(EngineError, match="analyst") as caught:
            await engine_for(server, num_retries=1).evaluate(request_for(spec(Report), Topic(name="x")))
        assert len(server.requests) == 2
    assert "openai/gpt-4.1-mini" in str(caught.value)


async def test_repair_prompt_shows_the_previous_answer_and_the_exact_errors(
    request_for: RequestFactory, chat_reply: ChatReply
) -> None:
    previous_error = ContractViolation(
        "analyst", expected="exactly 2 Report", got="1 x Report", errors=["Report: expected exactly 2, got 1"]
    )
    request: EvaluationRequest = request_for(
        spec(Report, fan_out=FanOut(2)),
        Topic(name="x"),
        attempt=1,
        previous_outputs=(REPORT,),
        previous_error=previous_error,
    )
    with FakeOpenAIServer(replies=[chat_reply(reports=[REPORT, REPORT])]) as server:
        result = await engine_for(server).evaluate(request)
    assert result.outputs == [REPORT, REPORT]
    system, user = server.requests[0].messages[0]["content"], server.requests[0].messages[-1]["content"]
    assert "Your previous answer was rejected." in system
    assert "[[ ## previous_attempt ## ]]" in user
    assert "expected exactly 2 Report, got 1 x Report" in user
    assert "Report: expected exactly 2, got 1" in user
    assert '"title": "Cats rule"' in user or '"title":"Cats rule"' in user


async def test_context_artifacts_reach_the_prompt(request_for: RequestFactory, chat_reply: ChatReply) -> None:
    request = request_for(spec(Report), Topic(name="x"), context=(Summary(text="earlier finding"),))
    with FakeOpenAIServer(replies=[chat_reply(report=REPORT)]) as server:
        await engine_for(server).evaluate(request)
    user = server.requests[0].messages[-1]["content"]
    assert "[[ ## context ## ]]" in user
    assert "earlier finding" in user
    assert '"producer": "scout"' in user


# -- whole workflows through Flock ---------------------------------------------------------------------


class Idea(BaseModel):
    title: str = Field(max_length=60)
    angle: str


class Draft(BaseModel):
    text: str


class Digest(BaseModel):
    headline: str
    drafts_seen: int = Field(ge=1, le=3)


def pipeline(flock: Flock) -> Flock:
    for model in (Topic, Idea, Draft, Digest):  # namespaced: other tests register an `Idea` globally
        flock.register_type(model, name=f"engine_tests.{model.__name__}")
    flock.agent("planner").description("Plan three ideas.").consumes(Topic).publishes(Idea, fan_out=3)
    flock.agent("writer").description("Write a draft.").consumes(Idea).publishes(Draft)
    flock.agent("editor").description("Digest the drafts.").consumes(Draft, Draft, Draft).publishes(Digest)
    return flock


async def run_pipeline(flock: Flock) -> dict[str, int]:
    await flock.publish(Topic(name="cats"))
    await flock.run_until_idle(timeout=30)
    counts = {m.__name__: len(await flock.get_by_type(m)) for m in (Topic, Idea, Draft, Digest)}
    assert await flock.store.get_by_type(WorkflowError) == []
    return counts


async def test_pipeline_with_fan_out_on_the_offline_model() -> None:
    flock = pipeline(Flock(model="offline"))
    assert await run_pipeline(flock) == {"Topic": 1, "Idea": 3, "Draft": 3, "Digest": 1}
    [digest] = await flock.get_by_type(Digest)
    assert digest.headline.startswith("synthetic")


async def test_pipeline_through_the_fake_server_with_a_repair(chat_reply: ChatReply) -> None:
    idea = Idea(title="Cats and boxes", angle="physics")

    def respond(request: ChatRequest) -> str:
        system, user = request.messages[0]["content"], request.messages[-1]["content"]
        if "Plan three ideas." in system:
            return chat_reply(ideas=[idea] * (3 if "[[ ## previous_attempt ## ]]" in user else 2))
        if "Write a draft." in system:
            return chat_reply(draft=Draft(text="Boxes attract cats."))
        return chat_reply(digest=Digest(headline="Cats love boxes", drafts_seen=3))

    with FakeOpenAIServer(respond, latency=0.05) as server:
        engine = DSPyEngine(api_base=server.base_url, api_key="sk-fake")
        flock = pipeline(Flock(model="openai/gpt-4.1-mini", engine=engine))
        assert await run_pipeline(flock) == {"Topic": 1, "Idea": 3, "Draft": 3, "Digest": 1}
    planner_calls = [r for r in server.requests if "Plan three ideas." in r.messages[0]["content"]]
    assert len(planner_calls) == 2
    assert "engine_tests.Idea: expected exactly 3, got 2" in planner_calls[1].messages[-1]["content"]
    assert len(server.requests) == 6
