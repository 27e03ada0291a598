"""Token streaming through DSPy: the tokens come from the real HTTP path and never change the outputs."""

from __future__ import annotations

import dataclasses
import itertools
from typing import Literal

import pytest
from pydantic import BaseModel, Field

from engines import DSPyEngine
from flock_core import (
    AgentSpec,
    ArtifactQuery,
    EvaluationResult,
    Flock,
    FlockEvent,
    OutputGroup,
    Subscription,
    TokenStreamed,
    WorkflowError,
)
from flock_core.exceptions import ContractViolation
from flock_core.testing import ChatRequest, FakeOpenAIServer, ToolCall, ToolCallReply

from .conftest import ChatReply, RequestFactory

pytestmark = pytest.mark.anyio


class Topic(BaseModel):
    name: str


class Report(BaseModel):
    title: str = Field(min_length=3, max_length=60)
    score: int = Field(ge=1, le=10)


def spec() -> AgentSpec:
    return AgentSpec(
        "analyst",
        "Write reports about the topic.",
        subscriptions=(Subscription(("Topic",), (Topic,)),),
        output_groups=(OutputGroup(("Report",), (Report,)),),
    )


REPORT = Report(title="Cats rule the house", score=7)


def engine_for(server: FakeOpenAIServer, backend: str) -> DSPyEngine:
    return DSPyEngine("openai/gpt-4.1-mini", api_base=server.base_url, api_key="sk-fake", backend=backend)  # pyright: ignore[reportArgumentType]


# LiteLLM builds its streaming models lazily, at the first streamed chunk, and pydantic then warns about
# them (ReadOnly TypedDict items, deprecated attribute access): harmless, and not ours to fix.
LITELLM_STREAM_WARNINGS = pytest.mark.filterwarnings(
    "ignore:Items? .+ on TypedDict class:UserWarning", "ignore::pydantic.warnings.PydanticDeprecatedSince211"
)


@pytest.mark.parametrize("backend", ["auto", pytest.param("litellm", marks=LITELLM_STREAM_WARNINGS)])
async def test_streamed_tokens_are_the_reply_and_the_outputs_do_not_change(
    request_for: RequestFactory, chat_reply: ChatReply, backend: str
) -> None:
    reply = chat_reply(report=REPORT)
    tokens: list[str] = []
    with FakeOpenAIServer(replies=[reply]) as server:
        engine = engine_for(server, backend)
        plain = await engine.evaluate(request_for(spec(), Topic(name="cats")))
        streamed = await engine.evaluate(request_for(spec(), Topic(name="cats"), on_token=tokens.append))
        sent = server.requests
    assert [r.stream for r in sent] == [False, True]
    assert len(tokens) > 3  # the fake server sends the reply in 16-character chunks
    assert "".join(tokens) == reply
    assert streamed == plain == EvaluationResult(outputs=[REPORT], usage=plain.usage)
    assert streamed.usage.output_tokens > 0


async def test_a_streamed_malformed_reply_is_still_a_contract_violation(request_for: RequestFactory) -> None:
    tokens: list[str] = []
    with FakeOpenAIServer(faults={0: "malformed"}) as server, pytest.raises(ContractViolation):
        await engine_for(server, "auto").evaluate(request_for(spec(), Topic(name="x"), on_token=tokens.append))
    assert "".join(tokens) == FakeOpenAIServer.MALFORMED_REPLY


async def test_the_offline_model_streams_word_by_word(request_for: RequestFactory) -> None:
    engine = DSPyEngine("offline")
    tokens: list[str] = []
    plain = await engine.evaluate(request_for(spec(), Topic(name="cats")))
    streamed = await engine.evaluate(request_for(spec(), Topic(name="cats"), on_token=tokens.append))
    assert streamed == plain
    assert len(tokens) > 5
    assert all(token.strip() and " " not in token.strip() for token in tokens)
    assert "[[ ## report ## ]]" in "".join(tokens)


# -- through a whole Flock -----------------------------------------------------------------------------


class Idea(BaseModel):
    title: str = Field(max_length=60)


class Draft(BaseModel):
    text: str


def pipeline(flock: Flock) -> Flock:
    for model in (Topic, Idea, Draft):  # namespaced: other tests register these names globally
        flock.register_type(model, name=f"streaming_tests.{model.__name__}")
    flock.agent("planner").description("Plan two ideas.").consumes(Topic).publishes(Idea, fan_out=2)
    flock.agent("writer").description("Write a draft.").consumes(Idea).publishes(Draft)
    return flock


def respond_with(chat_reply: ChatReply):
    def respond(request: ChatRequest) -> str:
        system, user = request.messages[0]["content"], request.messages[-1]["content"]
        if "Plan two ideas." in system:  # the first answer breaks the contract, the repair keeps it
            count = 2 if "[[ ## previous_attempt ## ]]" in user else 1
            return chat_reply(ideas=[Idea(title="Cats and boxes")] * count)
        return chat_reply(draft=Draft(text=f"A draft about {'boxes' if 'boxes' in user else 'cats'}."))

    return respond


async def run_once(chat_reply: ChatReply, *, listen: bool) -> tuple[list[dict[str, object]], list[TokenStreamed]]:
    tokens: list[TokenStreamed] = []

    def collect(event: FlockEvent) -> None:
        if isinstance(event, TokenStreamed):
            tokens.append(event)

    with FakeOpenAIServer(respond_with(chat_reply)) as server:
        flock = pipeline(Flock(model="openai/gpt-4.1-mini", engine=DSPyEngine(api_base=server.base_url, api_key="k")))
        if listen:
            flock.events.subscribe(collect, tokens=True)
        await flock.publish(Topic(name="cats"), correlation_id="run")
        await flock.run_until_idle(timeout=30)
        assert [r.stream for r in server.requests] == [listen] * 4
    assert await flock.store.get_by_type(WorkflowError) == []
    page = await flock.store.query(ArtifactQuery())
    return [{"type": a.type, "payload": a.payload, "by": a.produced_by} for a in page.items], tokens


async def test_a_streamed_run_publishes_exactly_what_an_unstreamed_run_publishes(chat_reply: ChatReply) -> None:
    quiet, none = await run_once(chat_reply, listen=False)
    loud, tokens = await run_once(chat_reply, listen=True)
    assert none == []
    assert sorted(loud, key=str) == sorted(quiet, key=str)  # concurrent writers publish in any order
    planner = [t for t in tokens if t.agent == "planner"]
    assert {t.attempt for t in planner} == {0, 1}  # the repair attempt streams too, marked as such
    first = "".join(t.text for t in planner if t.attempt == 0)
    assert first == chat_reply(ideas=[Idea(title="Cats and boxes")])
    writers = {t.work_key for t in tokens if t.agent == "writer"}
    assert len(writers) == 2
    assert {t.correlation_id for t in tokens} == {"run"}
    for work_key in writers:
        text = "".join(t.text for t in tokens if t.work_key == work_key)
        assert text.startswith("[[ ## draft ## ]]")
        assert text.endswith("[[ ## completed ## ]]")


@LITELLM_STREAM_WARNINGS
async def test_invoke_streams_the_model_output_to_token_subscribers(chat_reply: ChatReply) -> None:
    tokens: list[TokenStreamed] = []
    draft = chat_reply(draft=Draft(text="A draft about boxes."))
    with FakeOpenAIServer(replies=[draft]) as server:
        flock = pipeline(Flock(model="openai/gpt-4.1-mini", engine=DSPyEngine(api_base=server.base_url, api_key="k")))
        flock.events.subscribe(lambda e: tokens.append(e) if isinstance(e, TokenStreamed) else None, tokens=True)
        [output] = await flock.invoke("writer", Idea(title="boxes"), publish_outputs=False)
        assert [r.stream for r in server.requests] == [True]
    assert output.payload == {"text": "A draft about boxes."}
    assert "".join(t.text for t in tokens) == draft
    assert {(t.agent, t.work_key.split(":")[0]) for t in tokens} == {("writer", "invoke")}


class Chapter(BaseModel):
    lines: list[str] = Field(min_length=400)  # the offline model writes 400 lines: a long stream


async def _writer_switches(attempt: int) -> int:
    """How often the two writers' tokens alternate in one run of planner -> two writers (offline model)."""
    flock = Flock(model="offline")
    for model in (Topic, Idea, Chapter):
        flock.register_type(model, name=f"streaming_side_by_side.{model.__name__}")
    flock.agent("planner").description("Plan two ideas.").consumes(Topic).publishes(Idea, fan_out=2)
    flock.agent("writer").description("Write a chapter.").consumes(Idea).publishes(Chapter)
    order: list[str] = []
    flock.events.subscribe(lambda e: order.append(e.work_key) if isinstance(e, TokenStreamed) else None, tokens=True)
    # A topic no other run uses: a reply from DSPy's cache comes back in one piece, not word by word.
    await flock.publish(Topic(name=f"cats streaming side by side, take {attempt}"))
    await flock.run_until_idle(timeout=30)
    keys = list(dict.fromkeys(order))
    assert len(keys) == 3  # the planner, then two writers
    writers = [key for key in order if key != keys[0]]
    return sum(1 for a, b in itertools.pairwise(writers) if a != b)


async def test_concurrent_offline_activations_stream_side_by_side() -> None:
    # Before an LM call streams, DSPy prepares it in a thread. On a loaded machine that thread sometimes
    # gets no time until the other writer's whole stream is over (about 1 run in 10 on a busy 2-core
    # machine), so the writers get three runs: with the branches run one after the other, none interleaves.
    switches = [await _writer_switches(attempt) for attempt in range(3)]
    assert max(switches) > 2, switches  # the writers' tokens interleave: neither waits for the other to finish


async def test_a_streamed_native_tool_loop_calls_its_tools_and_streams_the_answer_text(
    request_for: RequestFactory, chat_reply: ChatReply
) -> None:
    called: list[str] = []

    def search(query: str) -> str:
        """Search the web."""
        called.append(query)
        return "cats purr"

    tool_spec = dataclasses.replace(spec(), tools=(search,))
    answer = chat_reply(report=REPORT)
    replies: list[str | ToolCallReply] = [ToolCallReply.of(ToolCall("search", {"query": "cats"})), answer]
    tokens: list[str] = []
    with FakeOpenAIServer(replies=replies) as server:
        engine = engine_for(server, "auto")
        result = await engine.evaluate(request_for(tool_spec, Topic(name="cats"), on_token=tokens.append))
        assert [r.stream for r in server.requests] == [True, True]
    assert called == ["cats"]
    assert result.outputs == [REPORT]
    assert "".join(tokens) == answer  # the tool call's chunk carries no text


@pytest.mark.parametrize("adapter", ["chat", "json", "xml", "two_step", "baml"])
@pytest.mark.parametrize("program", ["predict", "chain_of_thought", "react"])
async def test_every_adapter_and_program_streams_without_changing_the_outputs(
    request_for: RequestFactory,
    adapter: Literal["chat", "json", "xml", "two_step", "baml"],
    program: Literal["predict", "chain_of_thought", "react"],
) -> None:
    engine = DSPyEngine("offline", adapter=adapter, program=program)
    tokens: list[str] = []
    plain = await engine.evaluate(request_for(spec(), Topic(name="x")))
    streamed = await engine.evaluate(request_for(spec(), Topic(name="x"), on_token=tokens.append))
    assert streamed == plain
    assert len(tokens) > 1
