from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import BaseModel

from engines import DSPyEngine
from flock_core import AgentSpec, EvaluationRequest, OutputGroup, Subscription
from flock_core.testing import FakeOpenAIServer

pytestmark = pytest.mark.anyio

ChatReply = Callable[..., str]
RequestFactory = Callable[..., EvaluationRequest]


class Question(BaseModel):
    text: str


class Answer(BaseModel):
    text: str


def step(chat_reply: ChatReply, tool: str, **args: Any) -> str:
    return chat_reply(next_thought=f"use {tool}", next_tool_name=tool, next_tool_args=args)


def agent(*tools: Callable[..., Any]) -> AgentSpec:
    return AgentSpec(
        "researcher",
        "Answer the question.",
        subscriptions=(Subscription(("Question",), (Question,)),),
        output_groups=(OutputGroup(("Answer",), (Answer,)),),
        tools=tools,
    )


async def test_unknown_tools_and_failing_tools_become_observations(
    request_for: RequestFactory, chat_reply: ChatReply
) -> None:
    threads: list[str] = []

    def search(query: str) -> str:
        """Search the web."""
        threads.append(threading.current_thread().name)
        return f"cats purr ({query})"

    def explode() -> str:
        """Always fails."""
        raise ValueError("the tool broke")

    replies = [
        step(chat_reply, "lookup_nope"),
        step(chat_reply, "explode"),
        step(chat_reply, "search", query="cats"),
        step(chat_reply, "finish"),
        chat_reply(reasoning="done", answer=Answer(text="They purr.")),
    ]
    with FakeOpenAIServer(replies=replies) as server:
        engine = DSPyEngine(
            "openai/gpt-4.1-mini", api_base=server.base_url, api_key="sk-fake", tools=[explode], tool_calling="text"
        )
        result = await engine.evaluate(request_for(agent(search), Question(text="What do cats do?")))
    assert result.outputs == [Answer(text="They purr.")]
    assert result.usage.calls == 5
    last_prompt = server.requests[-1].messages[-1]["content"]
    assert "Error: LookupError: unknown tool 'lookup_nope'; the available tools are: explode, finish, search" in (
        last_prompt
    )
    assert "Error: ValueError: the tool broke\n" in last_prompt  # one line: no traceback, no file paths
    assert "Traceback" not in last_prompt
    assert __file__ not in last_prompt
    assert "cats purr (cats)" in last_prompt
    assert threads
    assert threads[0] != threading.main_thread().name


async def test_the_loop_stops_after_max_tool_calls(request_for: RequestFactory, chat_reply: ChatReply) -> None:
    def search(query: str) -> str:
        """Search the web."""
        return "more"

    replies = [step(chat_reply, "search", query="a"), step(chat_reply, "search", query="b")]
    replies.append(chat_reply(reasoning="enough", answer=Answer(text="partial")))
    with FakeOpenAIServer(replies=replies) as server:
        engine = DSPyEngine(
            "openai/gpt-4.1-mini", api_base=server.base_url, api_key="k", max_tool_calls=2, tool_calling="text"
        )
        result = await engine.evaluate(request_for(agent(search), Question(text="?")))
    assert result.outputs == [Answer(text="partial")]
    assert len(server.requests) == 3
