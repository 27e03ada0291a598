"""Flock's MCP connection parameters and the keyword form of `add_mcp`."""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import BaseModel

from flock_core import EvaluationRequest, Flock, StdioServerParameters, StreamableHttpServerParameters
from flock_core.exceptions import ConfigurationError
from flock_core.mcp import McpServerSpec, server_spec
from flock_core.testing import FunctionEngine

pytestmark = pytest.mark.anyio

SERVER = str(Path(__file__).with_name("mcp_echo_server.py"))


def test_connection_parameters_become_server_specs() -> None:
    stdio = StdioServerParameters(command="uvx", args=["duckduckgo-mcp-server"], env={"K": "v"}, cwd="/tmp")
    http = StreamableHttpServerParameters(
        url="https://example.invalid/mcp", headers={"Authorization": "Bearer t"}, timeout=timedelta(seconds=5)
    )
    assert server_spec(None, stdio) == McpServerSpec.stdio("uvx", ["duckduckgo-mcp-server"], env={"K": "v"}, cwd="/tmp")
    assert server_spec(None, http, tool_whitelist=["search"]) == McpServerSpec.http(
        "https://example.invalid/mcp", headers={"Authorization": "Bearer t"}, tools=["search"], timeout=5
    )
    assert server_spec(None, stdio, enable_tools_feature=False).tools == frozenset()
    spec = McpServerSpec.stdio("x")
    assert server_spec(spec, None) is spec


@pytest.mark.parametrize(
    ("spec", "params", "message"),
    [
        pytest.param(None, None, "exactly one of spec or connection_params=", id="neither"),
        pytest.param(McpServerSpec.stdio("x"), StdioServerParameters("x"), "exactly one of", id="both"),
        pytest.param(None, "uvx", "must be StdioServerParameters or StreamableHttpServerParameters", id="wrong"),
        pytest.param(None, StreamableHttpServerParameters("ftp://x"), "needs an http(s) `url`", id="bad-url"),
    ],
)
def test_invalid_add_mcp_arguments(spec: McpServerSpec | None, params: object, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Flock().add_mcp("s", spec, connection_params=params)  # pyright: ignore[reportArgumentType]


class Addends(BaseModel):
    a: int
    b: int


class Sum(BaseModel):
    value: str


async def test_the_keyword_form_of_add_mcp_as_flocks_examples_use_it() -> None:
    async def engine(request: EvaluationRequest) -> list[BaseModel]:
        tools = {t.__name__: t for t in request.agent.tools}
        payload = request.payloads[0]
        assert isinstance(payload, Addends)
        return [Sum(value=str(await tools["calc__add"](a=payload.a, b=payload.b)))]

    flock = Flock(engine=FunctionEngine(engine))
    flock.add_mcp(
        name="calc",
        enable_tools_feature=True,
        connection_params=StdioServerParameters(command=sys.executable, args=[SERVER]),
    )
    flock.agent("adder").consumes(Addends).publishes(Sum).with_mcps(["calc"])
    try:
        result = await flock.arun(Addends(a=20, b=22))
    finally:
        await flock.shutdown()
    assert result.get(Sum) == [Sum(value="42")]
