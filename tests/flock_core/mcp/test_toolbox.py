"""`McpToolbox` against a real MCP server (a stdio script started by the test), and an agent using it."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import anyio
import pytest
from pydantic import BaseModel

from flock_core import EvaluationRequest, Flock
from flock_core.exceptions import AgentDeclarationError, ConfigurationError
from flock_core.mcp import McpError, McpServerSpec, McpToolbox
from flock_core.testing import FunctionEngine

pytestmark = pytest.mark.anyio

SERVER = str(Path(__file__).with_name("mcp_echo_server.py"))
ECHO = McpServerSpec.stdio(sys.executable, [SERVER], timeout=20)


@pytest.fixture
async def toolbox() -> AsyncIterator[McpToolbox]:
    async with McpToolbox() as box:
        box.add("echo", ECHO)
        yield box


async def test_tools_become_python_callables(toolbox: McpToolbox) -> None:
    assert toolbox._sessions == {}  # nothing connects before it is needed
    tools = {t.__name__: t for t in await toolbox.tools(["echo"])}
    assert sorted(tools) == ["echo__add", "echo__fail", "echo__shout"]
    assert tools["echo__add"].__doc__ == "Add two integers."
    assert await tools["echo__add"](a=2, b=40) == "42"
    assert await tools["echo__shout"](text="hi", times=2, style="stars") == "*HI HI*"
    assert await tools["echo__shout"](text="hi") == "HI"
    with pytest.raises(McpError, match="'echo' tool 'fail'") as failed:
        await tools["echo__fail"](message="nope")
    assert (failed.value.server, failed.value.tool) == ("echo", "fail")
    assert await toolbox.call("echo", "add", {"a": 1, "b": 1}) == "2"


async def test_whitelists(toolbox: McpToolbox) -> None:
    toolbox.add("limited", McpServerSpec.stdio(sys.executable, [SERVER], tools=["add", "shout"], timeout=20))
    assert [t.__name__ for t in await toolbox.tools(["limited"])] == ["limited__add", "limited__shout"]
    assert [t.__name__ for t in await toolbox.tools({"limited": ["shout"], "echo": None})] == [
        "limited__shout",
        "echo__add",
        "echo__shout",
        "echo__fail",
    ]
    assert len(await toolbox.list_tools("limited")) == 3  # the listing itself is not filtered
    with pytest.raises(McpError, match="not in the server's tool whitelist"):
        await toolbox.call("limited", "fail", {"message": "x"})
    with pytest.raises(McpError, match=r"no tools named \['fail'\]"):
        await toolbox.tools({"limited": ["fail"]})
    with pytest.raises(McpError, match=r"no tools named \['nope'\]"):
        await toolbox.tools({"echo": ["nope"]})


async def test_configuration_errors(toolbox: McpToolbox) -> None:
    with pytest.raises(ConfigurationError, match="unknown MCP server 'other'"):
        await toolbox.tools(["other"])
    with pytest.raises(ConfigurationError, match="already added"):
        toolbox.add("echo", ECHO)
    for bad in ("", "a__b", "1st", "a b"):
        with pytest.raises(ConfigurationError, match="must match"):
            toolbox.add(bad, ECHO)


async def test_a_server_that_cannot_start_is_an_mcp_error() -> None:
    async with McpToolbox() as box:
        box.add("broken", McpServerSpec.stdio(sys.executable, ["-c", "raise SystemExit(3)"], timeout=5))
        with pytest.raises(McpError, match="'broken': cannot connect"):
            await box.tools()


async def test_close_and_reconnect(toolbox: McpToolbox) -> None:
    assert await toolbox.call("echo", "add", {"a": 1, "b": 2}) == "3"
    await toolbox.aclose()
    assert toolbox._sessions == {}
    assert await toolbox.call("echo", "add", {"a": 2, "b": 2}) == "4"


async def test_one_toolbox_serves_several_event_loops() -> None:
    box = McpToolbox()
    box.add("echo", ECHO)

    async def add(a: int, b: int) -> str:
        return await box.call("echo", "add", {"a": a, "b": b})

    assert await anyio.to_thread.run_sync(lambda: anyio.run(add, 1, 2)) == "3"
    assert await add(3, 4) == "7"  # the session opened by another event loop still works
    await box.aclose()


class Addends(BaseModel):
    a: int
    b: int


class CalcResult(BaseModel):
    value: int


async def test_an_agent_calls_an_mcp_tool_and_publishes_the_result(toolbox: McpToolbox) -> None:
    async def use_tools(request: EvaluationRequest) -> list[BaseModel]:
        tools = {t.__name__: t for t in request.agent.tools}
        task = request.payloads[0]
        assert isinstance(task, Addends)
        return [CalcResult(value=int(await tools["echo__add"](a=task.a, b=task.b)))]

    flock = Flock(engine=FunctionEngine(use_tools))
    flock.register_type(Addends)
    flock.register_type(CalcResult)
    tools = await toolbox.tools(["echo"])  # what `agent.with_mcps(["echo"])` will resolve to
    flock.agent("adder").consumes(Addends).publishes(CalcResult).with_tools(tools)
    result = await flock.arun(Addends(a=20, b=22), timeout=30)
    assert result.get(CalcResult) == [CalcResult(value=42)]
    assert result.errors == []


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_http_server(port: int) -> subprocess.Popen[bytes]:
    """The echo server on the streamable-HTTP transport at `port`, once it accepts connections."""
    process = subprocess.Popen(
        [sys.executable, SERVER, "http", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return process
        time.sleep(0.05)
    process.kill()
    raise AssertionError(f"the MCP test server did not listen on port {port}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.kill()
    process.wait(timeout=10)


@pytest.fixture
def http_server() -> Iterator[str]:
    """The same server on the streamable-HTTP transport, on a free loopback port."""
    port = _free_port()
    process = _start_http_server(port)
    try:
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        _stop(process)


def _mcp_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name == "flock-mcp"]


async def test_a_restarted_http_server_is_reconnected_and_aclose_leaves_nothing_behind() -> None:
    port = _free_port()
    url = f"http://127.0.0.1:{port}/mcp"
    box = McpToolbox()
    box.add("remote", McpServerSpec.http(url, timeout=20))
    process = _start_http_server(port)
    try:
        assert await box.call("remote", "add", {"a": 1, "b": 2}) == "3"
        _stop(process)
        with pytest.raises(McpError) as down:
            await box.call("remote", "add", {"a": 1, "b": 2})
        assert str(down.value) == (
            f"MCP server 'remote': cannot connect to {url}: ConnectError: All connection attempts failed"
        )
        process = _start_http_server(port)
        assert await box.call("remote", "add", {"a": 2, "b": 2}) == "4"  # no aclose() needed in between
        _stop(process)
        await box.aclose()  # the session of a dead server closes without an error
        assert (box._sessions, _mcp_threads()) == ({}, [])
    finally:
        _stop(process)


async def test_a_server_that_is_not_there_is_named_with_the_cause() -> None:
    url = f"http://127.0.0.1:{_free_port()}/mcp"
    async with McpToolbox() as box:
        box.add("nowhere", McpServerSpec.http(url, timeout=5))
        with pytest.raises(McpError) as failed:
            await box.tools()
        assert str(failed.value) == (
            f"MCP server 'nowhere': cannot connect to {url}: ConnectError: All connection attempts failed"
        )
        assert "TaskGroup" not in str(failed.value)
    assert _mcp_threads() == []


async def test_streamable_http_transport(http_server: str) -> None:
    async with McpToolbox() as box:
        box.add("remote", McpServerSpec.http(http_server, headers={"X-Trace": "1"}, timeout=20))
        tools = {t.__name__: t for t in await box.tools()}
        assert sorted(tools) == ["remote__add", "remote__fail", "remote__shout"]
        assert await tools["remote__add"](a=5, b=6) == "11"


class McpAddends(BaseModel):
    a: int
    b: int


class McpResult(BaseModel):
    value: str
    tools: list[str]


async def test_agent_with_mcps_gets_namespaced_whitelisted_tools() -> None:
    async def engine(request: EvaluationRequest) -> list[BaseModel]:
        tools = {t.__name__: t for t in request.agent.tools}
        payload = request.payloads[0]
        assert isinstance(payload, McpAddends)
        return [McpResult(value=str(await tools["calc__add"](a=payload.a, b=payload.b)), tools=sorted(tools))]

    flock = Flock(engine=FunctionEngine(engine))
    flock.register_type(McpAddends)
    flock.register_type(McpResult)
    flock.add_mcp("calc", ECHO)
    flock.agent("adder").consumes(McpAddends).publishes(McpResult).with_mcps({"calc": ["add"]})
    try:
        result = await flock.arun(McpAddends(a=20, b=22))
    finally:
        await flock.shutdown()
    assert result.get(McpResult) == [McpResult(value="42", tools=["calc__add"])]
    assert flock.agents["adder"].mcp_servers == (("calc", frozenset({"add"})),)


async def test_with_mcps_without_a_registered_server_fails_when_the_flock_starts() -> None:
    flock = Flock(engine=FunctionEngine(lambda request: []))
    flock.register_type(McpAddends)
    flock.register_type(McpResult)
    flock.agent("adder").consumes(McpAddends).publishes(McpResult).with_mcps(["calc"])
    with pytest.raises(AgentDeclarationError) as caught:
        await flock.arun(McpAddends(a=1, b=2))
    assert (caught.value.agent, caught.value.argument) == ("adder", "with_mcps")
    assert "call flock.add_mcp('calc'" in str(caught.value)
