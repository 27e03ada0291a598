"""The cached chat adapter sends exactly what DSPy's own chat adapter sends, call after call.

Request bodies are compared as the JSON text of what the server received, key order included.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable

import dspy
import pytest
from pydantic import BaseModel, Field

from engines import DSPyEngine
from engines._adapters import CachedChatAdapter
from engines._lm import make_adapter
from engines._signature import InputShape, build_signature
from flock_core import AgentSpec, EvaluationRequest, FanOut, OutputGroup, Subscription
from flock_core.testing import FakeOpenAIServer

pytestmark = pytest.mark.anyio

ChatReply = Callable[..., str]
RequestFactory = Callable[..., EvaluationRequest]


class Topic(BaseModel):
    name: str = Field(description="What to write about")


class Idea(BaseModel):
    title: str = Field(description="A short title")
    stars: int = Field(ge=1, le=5)


def _spec(fan_out: FanOut | None = None) -> AgentSpec:
    return AgentSpec(
        "planner",
        "Plan ideas about the topic.",
        subscriptions=(Subscription(("Topic",), (Topic,)),),
        output_groups=(OutputGroup(("Idea",), (Idea,), fan_out or FanOut()),),
    )


def _requests(request_for: RequestFactory) -> list[EvaluationRequest]:
    """Requests that differ in inputs, context and output shape, each sent twice (the second hits the cache)."""
    once = [
        request_for(_spec(), Topic(name="cats")),
        request_for(_spec(), Topic(name="dogs"), context=(Idea(title="Naps", stars=4), Topic(name="cats"))),
        request_for(_spec(FanOut(2)), Topic(name="birds")),
    ]
    return [*once, *once]


async def _bodies(server: FakeOpenAIServer, adapter: object, requests: list[EvaluationRequest]) -> list[str]:
    options: dict[str, object] = {} if adapter is None else {"adapter": adapter}
    engine = DSPyEngine("openai/bench", api_base=server.base_url, api_key="sk-fake", num_retries=0, **options)  # pyright: ignore[reportArgumentType]
    for request in requests:
        await engine.evaluate(request)
    return [json.dumps(call.body) for call in server.requests]


async def test_requests_are_byte_identical_to_dspys_chat_adapter(
    request_for: RequestFactory, chat_reply: ChatReply
) -> None:
    requests = _requests(request_for)
    one = chat_reply(idea=Idea(title="Naps", stars=4))
    two = chat_reply(ideas=[Idea(title="Naps", stars=4), Idea(title="Yarn", stars=5)])
    replies = [one, one, two] * 2
    with FakeOpenAIServer(replies=replies) as server:
        ours = await _bodies(server, None, requests)
    with FakeOpenAIServer(replies=replies) as server:
        dspys = await _bodies(server, dspy.ChatAdapter(use_json_adapter_fallback=False), requests)
    assert len(ours) == len(requests)
    assert ours == dspys


def test_the_default_chat_adapter_is_the_cached_one() -> None:
    adapter = make_adapter("chat", dspy.LM("openai/bench"))
    assert type(adapter) is CachedChatAdapter
    assert adapter.use_json_adapter_fallback is False


def test_system_message_is_built_once_per_signature_and_mode(
    request_for: RequestFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, signature = build_signature(_spec(), 0, InputShape.of(request_for(_spec(), Topic(name="cats"))))
    adapter = CachedChatAdapter()
    built: list[type[dspy.Signature]] = []
    original = dspy.ChatAdapter.format_field_structure

    def counting(self: dspy.ChatAdapter, sig: type[dspy.Signature]) -> str:
        built.append(sig)
        return original(self, sig)

    monkeypatch.setattr(dspy.ChatAdapter, "format_field_structure", counting)
    first = adapter.format_system_message(signature)
    assert adapter.format_system_message(signature) == first == dspy.ChatAdapter().format_system_message(signature)
    assert len(built) == 2  # ours once, DSPy's own once
    native = copy.copy(adapter)
    native.use_native_function_calling = True
    native.format_system_message(signature)
    assert len(built) == 3  # a copy keeps no cache of the original's
