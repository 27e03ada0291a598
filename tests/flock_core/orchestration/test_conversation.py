"""Conversations: turns in one workflow, replies by lineage, history for the agents that ask for it."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic import BaseModel

from flock_core import (
    AgentIdentity,
    Artifact,
    EvaluationRequest,
    Flock,
    LabelledVisibility,
    TenantVisibility,
    Turn,
)
from flock_core.exceptions import AgentDeclarationError, ConfigurationError, ConversationClosedError
from flock_core.testing import FunctionEngine

pytestmark = pytest.mark.anyio


class Ask(BaseModel):
    text: str


class Answer(BaseModel):
    text: str


class Note(BaseModel):
    text: str


SEEN: dict[str, list[list[str]]] = {}


def texts(context: tuple[Artifact, ...]) -> list[str]:
    """The context as short strings: payload text, or `summary:N` for the summary item."""
    out: list[str] = []
    for artifact in context:
        if artifact.type == "ConversationSummary":
            out.append(f"summary:{artifact.payload['omitted_turns']}:{artifact.payload['summary']}")
        else:
            out.append(str(artifact.payload.get("text")))
    return out


def answer(request: EvaluationRequest) -> list[BaseModel]:
    """Echo the question, and remember what context the agent saw."""
    SEEN.setdefault(request.agent.name, []).append(texts(request.context))
    question = request.payloads[0]
    assert isinstance(question, Ask | Answer)
    if request.group.models[0] is Note:
        return [Note(text=f"noted {question.text}")]
    return [Answer(text=f"re: {question.text}")]


def make_flock(**options: object) -> Flock:
    SEEN.clear()
    flock = Flock(engine=FunctionEngine(answer), **options)  # pyright: ignore[reportArgumentType]
    for model in (Ask, Answer, Note):
        flock.register_type(model)
    return flock


async def test_a_turn_returns_its_replies_and_history_reaches_only_agents_that_ask() -> None:
    flock = make_flock()
    flock.agent("support").consumes(Ask).publishes(Answer).with_history()
    flock.agent("logger").consumes(Ask).publishes(Note)
    chat = flock.conversation("c-1")
    first = await chat.send(Ask(text="where is my order?"))
    second = await chat.send(Ask(text="it was order 7"))

    assert isinstance(first, Turn)
    assert first.conversation_id == "c-1"
    assert first.reply(Answer) == Answer(text="re: where is my order?")
    assert sorted(a.type for a in second.replies) == ["Answer", "Note"]
    assert second.reply(Answer).text == "re: it was order 7"
    assert SEEN["support"][0] == []
    assert sorted(SEEN["support"][1]) == ["noted where is my order?", "re: where is my order?", "where is my order?"]
    first_turn, second_turn = SEEN["logger"]
    assert set(first_turn) <= {"re: where is my order?"}, "only the current turn (a reply may be stored already)"
    assert set(second_turn) <= {"re: it was order 7"}, "an agent without .with_history() sees the current turn only"
    status = await flock.get_correlation_status("c-1")
    assert (status.state, status.artifact_count) == ("completed", 6)


async def test_history_is_bounded_and_summarised() -> None:
    flock = make_flock()

    def summarize(left_out: object) -> str:
        assert isinstance(left_out, list | tuple)
        return " | ".join(str(a.payload["text"]) for a in left_out)  # pyright: ignore[reportUnknownVariableType, reportUnknownMemberType, reportUnknownArgumentType]

    flock.agent("support").consumes(Ask).publishes(Answer).with_history(max_turns=2, summarize=summarize)
    chat = flock.conversation("c-2")
    for n in range(3):
        await chat.send(Ask(text=f"q{n}"))
    assert SEEN["support"][-1] == ["summary:2:q0 | re: q0", "q1", "re: q1"]

    bounded = make_flock()
    bounded.agent("support").consumes(Ask).publishes(Answer).with_history(max_chars=40)
    chat = bounded.conversation("c-3")
    for n in range(3):
        await chat.send(Ask(text=f"question {n}"))
    last = SEEN["support"][-1]
    assert last[0].startswith("summary:3:3 earlier turns of this conversation are left out")
    assert last[1:] == ["re: question 1"]


async def test_a_turn_another_tenant_or_the_caller_may_not_see_is_never_in_the_history() -> None:
    flock = make_flock()
    flock.agent("acme_support").tenant("acme").labels("staff").consumes(Ask).publishes(Answer).with_history()
    flock.agent("globex_support").tenant("globex").consumes(Ask).publishes(Answer).with_history()
    acme, globex = TenantVisibility(tenant_id="acme"), TenantVisibility(tenant_id="globex")
    staff_only = LabelledVisibility(required_labels=frozenset({"staff"}), tenant="acme")
    chat = flock.conversation("shared-id")
    await chat.send(Ask(text="acme secret"), visibility=acme)
    await chat.send(Ask(text="globex secret"), visibility=globex)
    await flock.publish(Note(text="staff-only remark"), visibility=staff_only, correlation_id="shared-id")
    turn = await chat.send(Ask(text="acme again"), visibility=acme)

    assert SEEN["acme_support"][-1] == ["acme secret", "re: acme secret"]
    assert SEEN["globex_support"] == [[]]
    customer = AgentIdentity("alice", tenant="acme")
    reply = [a for a in turn.replies if a.type == "Answer"]
    assert [a.visibility for a in reply] == [acme], "the reply stays visible to the customer"
    seen_by_customer = [a.payload["text"] for a in await chat.history(visible_to=customer)]
    assert "globex secret" not in seen_by_customer
    assert "staff-only remark" not in seen_by_customer
    assert seen_by_customer[-1] == "re: acme again"

    staff_turn = await chat.send(Ask(text="staff question"), visibility=staff_only)
    assert "staff-only remark" in SEEN["acme_support"][-1], "a staff turn's history includes staff-only turns"
    assert "globex secret" not in SEEN["acme_support"][-1]
    assert staff_turn.reply(Answer).text == "re: staff question"


async def test_spans_carry_the_conversation_id() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    flock = make_flock(tracer_provider=provider)
    flock.agent("support").consumes(Ask).publishes(Answer).with_history()
    await flock.conversation("traced").send(Ask(text="hi"))
    spans = {s.name: s for s in exporter.get_finished_spans()}
    agent = spans["invoke_agent support"]
    assert agent.attributes is not None
    assert agent.attributes["gen_ai.conversation.id"] == "traced"


async def test_a_cancelled_conversation_refuses_new_turns() -> None:
    flock = make_flock()
    flock.agent("support").consumes(Ask).publishes(Answer)
    chat = flock.conversation("done")
    await chat.send(Ask(text="bye"))
    await flock.cancel("done", reason="customer left")
    with pytest.raises(ConversationClosedError, match="customer left") as caught:
        await chat.send(Ask(text="hello?"))
    assert caught.value.conversation_id == "done"


async def test_a_failing_agent_is_reported_on_the_turn() -> None:
    flock = make_flock()

    def broken(request: EvaluationRequest) -> list[BaseModel]:
        raise ValueError("model is down")

    flock.agent("support").consumes(Ask).publishes(Answer).with_engines(FunctionEngine(broken))
    turn = await flock.conversation("c-err").send(Ask(text="hi"))
    assert [e.agent for e in turn.errors] == ["support"]
    with pytest.raises(LookupError, match=r"no Answer answered this turn .*model is down"):
        turn.reply(Answer)


@pytest.mark.parametrize("bad", ["", "  ", "x" * 201, 42])
def test_a_bad_conversation_id_is_a_configuration_error(bad: object) -> None:
    with pytest.raises(ConfigurationError, match="conversation"):
        Flock().conversation(bad)  # pyright: ignore[reportArgumentType]


@pytest.mark.parametrize(
    ("options", "argument"), [({"max_turns": 0}, "max_turns"), ({"summarize": "short"}, "summarize")]
)
def test_history_options_are_checked_where_they_are_declared(options: dict[str, object], argument: str) -> None:
    builder = Flock().agent("support").consumes(Ask).publishes(Answer)
    with pytest.raises(AgentDeclarationError) as caught:
        builder.with_history(**options)  # pyright: ignore[reportArgumentType]
    assert caught.value.argument == argument
