"""Native tool calling over HTTP: `tools` in the request, `tool_calls` in the reply, results as `tool` messages."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any

import pytest
from pydantic import BaseModel, Field

from engines import DSPyEngine
from flock_core import AgentSpec, EvaluationRequest, OutputGroup, Subscription
from flock_core.exceptions import ConfigurationError
from flock_core.mcp import McpTool
from flock_core.mcp._tools import tool_function
from flock_core.testing import FakeOpenAIServer, ToolCall, ToolCallReply
from flock_core.testing._fake_openai import Reply

pytestmark = pytest.mark.anyio

ChatReply = Callable[..., str]
RequestFactory = Callable[..., EvaluationRequest]


class Question(BaseModel):
    text: str


class Answer(BaseModel):
    text: str


def agent(*tools: Callable[..., Any]) -> AgentSpec:
    return AgentSpec(
        "researcher",
        "Answer the question.",
        subscriptions=(Subscription(("Question",), (Question,)),),
        output_groups=(OutputGroup(("Answer",), (Answer,)),),
        tools=tools,
    )


def engine_for(server: FakeOpenAIServer, **options: Any) -> DSPyEngine:
    return DSPyEngine("openai/gpt-4.1-mini", api_base=server.base_url, api_key="sk-fake", **options)


def tool_messages(server: FakeOpenAIServer, call_index: int) -> list[tuple[str, str]]:
    return [(m["tool_call_id"], m["content"]) for m in server.requests[call_index].messages if m["role"] == "tool"]


async def test_tools_go_to_the_model_natively_and_results_come_back(
    request_for: RequestFactory, chat_reply: ChatReply
) -> None:
    def search(query: Annotated[str, Field(max_length=20)], limit: Annotated[int, Field(ge=1, le=5)] = 3) -> str:
        """Search the web."""
        return f"cats purr ({query}, {limit})"

    replies = [
        ToolCallReply.of(ToolCall("search", {"query": "cats"}), ToolCall("nowhere", {})),
        ToolCallReply.of(ToolCall("search", {"query": "cats", "limit": 9})),  # above the schema's maximum
        chat_reply(answer=Answer(text="They purr.")),
    ]
    with FakeOpenAIServer(replies=replies) as server:
        result = await engine_for(server).evaluate(request_for(agent(search), Question(text="What do cats do?")))
    assert result.outputs == [Answer(text="They purr.")]
    assert result.usage.calls == 3
    assert server.requests[0].tools == [
        {
            "type": "function",
            "function": {
                "name": "search",
                "description": "Search the web.",
                "parameters": {
                    "type": "object",
                    "properties": {
                        "query": {"type": "string", "maxLength": 20},
                        "limit": {"type": "integer", "minimum": 1, "maximum": 5, "default": 3},
                    },
                    "required": ["query"],
                    "additionalProperties": False,
                },
            },
        }
    ]
    assert tool_messages(server, 1) == [
        ("call_0_0", "cats purr (cats, 3)"),
        ("call_0_1", "Error: unknown tool 'nowhere'; the tools are ['search']"),
    ]
    [(_, refused)] = tool_messages(server, 2)[2:]
    assert refused == "Error: ValueError: Arg limit is invalid: 9 is greater than the maximum of 5"
    assert "next_tool_name" not in json.dumps(server.requests[0].messages)  # no ReAct text protocol


async def test_a_failing_tool_is_one_line_without_traceback(request_for: RequestFactory, chat_reply: ChatReply) -> None:
    def explode(path: str) -> str:
        """Always fails."""
        raise FileNotFoundError(2, "No such file", f"/srv/private/{path}")

    replies: list[Reply] = [ToolCallReply.of(ToolCall("explode", {"path": a})) for a in ("a.csv",)]
    replies += [ToolCallReply.of(ToolCall("explode", {})), chat_reply(answer=Answer(text="gave up"))]
    with FakeOpenAIServer(replies=replies) as server:
        result = await engine_for(server, tools=[explode]).evaluate(request_for(agent(), Question(text="?")))
    assert result.outputs == [Answer(text="gave up")]
    assert [content for _, content in tool_messages(server, 2)] == [
        "Error: FileNotFoundError: [Errno 2] No such file: '<path>'",
        "Error: ToolArgumentError: missing required argument(s) ['path']",
    ]


async def test_the_loop_ends_with_an_answer_after_max_tool_calls(
    request_for: RequestFactory, chat_reply: ChatReply
) -> None:
    def search(query: str) -> str:
        """Search the web."""
        return "more"

    replies: list[Reply] = [ToolCallReply.of(ToolCall("search", {"query": q})) for q in "ab"]
    replies.append(chat_reply(answer=Answer(text="partial")))
    with FakeOpenAIServer(replies=replies) as server:
        result = await engine_for(server, max_tool_calls=2).evaluate(request_for(agent(search), Question(text="?")))
    assert result.outputs == [Answer(text="partial")]
    assert [bool(r.tools) for r in server.requests] == [True, True, False]  # the last call offers no tools


SHOUT = McpTool(
    "echo",
    "shout",
    "Repeat a text in capitals.",
    {  # the input schema the MCP SDK's server writes for `shout(text, times=1, style: Literal[...] = "plain")`
        "type": "object",
        "properties": {
            "text": {"title": "Text", "type": "string", "maxLength": 50},
            "times": {"default": 1, "title": "Times", "type": "integer", "minimum": 1},
            "style": {"default": "plain", "enum": ["plain", "stars"], "title": "Style", "type": "string"},
        },
        "required": ["text"],
    },
)


async def test_mcp_tool_schemas_keep_their_limits(request_for: RequestFactory, chat_reply: ChatReply) -> None:
    sent: list[dict[str, Any]] = []

    async def call_server(arguments: dict[str, Any]) -> str:  # stands in for the MCP session
        sent.append(arguments)
        return " ".join([arguments["text"].upper()] * arguments.get("times", 1))

    shout = tool_function(SHOUT, call_server)
    replies: list[Reply] = [
        ToolCallReply.of(ToolCall("echo__shout", {"text": "hi", "style": "loud"})),  # not in the enum
        ToolCallReply.of(ToolCall("echo__shout", {"text": "hi", "times": 2})),
        chat_reply(answer=Answer(text="HI HI")),
    ]
    with FakeOpenAIServer(replies=replies) as server:
        result = await engine_for(server).evaluate(request_for(agent(shout), Question(text="shout")))
    assert result.outputs == [Answer(text="HI HI")]
    parameters = server.requests[0].tools[0]["function"]["parameters"]
    assert parameters["properties"]["style"]["enum"] == ["plain", "stars"]
    assert (parameters["properties"]["text"]["maxLength"], parameters["properties"]["times"]["minimum"]) == (50, 1)
    assert parameters["required"] == ["text"]
    [(_, refused)] = tool_messages(server, 1)
    assert refused.startswith("Error: ValueError: Arg style is invalid: 'loud' is not one of ['plain', 'stars']")
    assert tool_messages(server, 2)[1][1] == "HI HI"
    assert sent == [{"text": "hi", "times": 2}]  # the refused call never reached the server


async def test_tool_calling_can_be_forced_to_text_or_required_native(request_for: RequestFactory) -> None:
    def search(query: str) -> str:
        """Search the web."""
        return "x"

    with pytest.raises(ConfigurationError, match="tool_calling"):
        DSPyEngine("offline", tool_calling="sometimes")  # type: ignore[arg-type]
    engine = DSPyEngine("offline", tool_calling="native")
    with pytest.raises(ConfigurationError, match="tool_calling='native' needs a model with function calling"):
        await engine.evaluate(request_for(agent(search), Question(text="?")))
