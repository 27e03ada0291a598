"""`chat {model}` spans with usage, under the activation's `invoke_agent` span, through the real HTTP path."""

from __future__ import annotations

import math

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from pydantic import BaseModel

from engines import DSPyEngine
from flock_core import Flock
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
