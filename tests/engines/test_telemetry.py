"""`chat {model}` spans with usage, under the activation's `invoke_agent` span, through the real HTTP path."""

from __future__ import annotations

import json
import math

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from pydantic import BaseModel

from engines import DSPyEngine
from flock_core import Flock, PublicVisibility, TenantVisibility, Visibility
from flock_core.testing import FakeOpenAIServer

from .conftest import format_chat_reply

pytestmark = pytest.mark.anyio


class Subject(BaseModel):
    name: str


class Summary(BaseModel):
    text: str


async def test_lm_call_span_has_genai_attributes_and_usage() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    reply = format_chat_reply(summary=Summary(text="short"))
    with FakeOpenAIServer(replies=[reply]) as server:
        engine = DSPyEngine("openai/gpt-4.1-mini", api_base=server.base_url, api_key="sk-fake")
        flock = Flock(engine=engine, tracer_provider=provider)
        flock.register_type(Subject)
        flock.register_type(Summary)
        flock.agent("summariser").description("Summarise.").consumes(Subject).publishes(Summary)
        result = await flock.arun(Subject(name="bees"))
        prompt_tokens = math.ceil(server.prompt_chars(0) / 4)
    provider.shutdown()
    assert result.get(Summary) == [Summary(text="short")]
    spans = {s.name: s for s in exporter.get_finished_spans()}
    chat, agent = spans["chat openai/gpt-4.1-mini"], spans["invoke_agent summariser"]
    assert chat.kind == SpanKind.CLIENT
    assert chat.parent is not None
    assert agent.context is not None
    assert chat.parent.span_id == agent.context.span_id
    assert dict(chat.attributes or {}) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "openai/gpt-4.1-mini",
        "gen_ai.provider.name": "openai",
        "gen_ai.usage.input_tokens": prompt_tokens,
        "gen_ai.usage.output_tokens": math.ceil(len(reply) / 4),
        "gen_ai.response.id": "chatcmpl-fake-0",
        "gen_ai.response.model": "gpt-4.1-mini",
    }
    agent_attributes = dict(agent.attributes or {})
    assert (agent_attributes["gen_ai.request.model"], agent_attributes["gen_ai.provider.name"]) == (
        "openai/gpt-4.1-mini",
        "openai",
    )
    exporter.shutdown()


async def test_a_direct_run_is_traced_with_its_model() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with FakeOpenAIServer(replies=[format_chat_reply(summary=Summary(text="direct"))]) as server:
        engine = DSPyEngine("openai/gpt-4.1-mini", api_base=server.base_url, api_key="sk-fake")
        flock = Flock(engine=engine, tracer_provider=provider)
        flock.register_type(Subject)
        flock.register_type(Summary)
        flock.agent("summariser").consumes(Subject).publishes(Summary)
        [output] = await flock.invoke("summariser", Subject(name="ants"), publish_outputs=False)
    provider.shutdown()
    spans = {s.name: s for s in exporter.get_finished_spans()}
    agent, chat = spans["invoke_agent summariser"], spans["chat openai/gpt-4.1-mini"]
    assert chat.parent is not None
    assert agent.context is not None
    assert chat.parent.span_id == agent.context.span_id
    attributes = dict(agent.attributes or {})
    assert attributes["gen_ai.provider.name"] == "openai"
    assert attributes["flock.output.ids"] == (str(output.id),)
    assert chat.attributes is not None
    assert chat.attributes["gen_ai.response.id"] == "chatcmpl-fake-0"
    exporter.shutdown()


async def _chat_span_attributes(*, trace_content: bool, visibility: Visibility) -> dict[str, object]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with FakeOpenAIServer(replies=[format_chat_reply(summary=Summary(text="the summary"))]) as server:
        engine = DSPyEngine("openai/gpt-4.1-mini", api_base=server.base_url, api_key="sk-fake")
        flock = Flock(engine=engine, tracer_provider=provider, trace_content=trace_content)
        flock.register_type(Subject)
        flock.register_type(Summary)
        flock.agent("summariser").tenant("acme").consumes(Subject).publishes(Summary)
        await flock.publish(Subject(name="the name is zanzibar"), visibility=visibility)
        await flock.run_until_idle()
    provider.shutdown()
    [chat] = [s for s in exporter.get_finished_spans() if s.name.startswith("chat ")]
    return dict(chat.attributes or {})


async def test_prompts_and_completions_are_captured_only_when_switched_on() -> None:
    off = await _chat_span_attributes(trace_content=False, visibility=PublicVisibility())
    assert not [key for key in off if "messages" in key]
    on = await _chat_span_attributes(trace_content=True, visibility=PublicVisibility())
    prompt = json.loads(str(on["gen_ai.input.messages"]))
    assert [m["role"] for m in prompt] == ["system", "user"]
    assert "zanzibar" in prompt[1]["parts"][0]["content"]
    assert on["llm.input_messages.1.message.role"] == "user"
    assert "zanzibar" in str(on["llm.input_messages.1.message.content"])
    [completion] = json.loads(str(on["gen_ai.output.messages"]))
    assert completion["role"] == "assistant"
    assert "the summary" in completion["parts"][0]["content"]
    assert on["llm.output_messages.0.message.content"] == completion["parts"][0]["content"]


async def test_prompts_of_an_activation_that_read_a_non_public_artifact_are_never_captured() -> None:
    attributes = await _chat_span_attributes(trace_content=True, visibility=TenantVisibility(tenant_id="acme"))
    assert "gen_ai.usage.input_tokens" in attributes  # the span is there, without its messages
    assert not [key for key in attributes if "messages" in key]
    assert "zanzibar" not in json.dumps(attributes)
