"""`serve`: a real uvicorn server on loopback, in the background of a test and blocking in a subprocess."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from pydantic import BaseModel

from flock_core import EvaluationRequest, Flock
from flock_core.exceptions import ConfigurationError
from flock_core.serve import create_app, serve, start_server
from flock_core.serve._app import build_app
from flock_core.serve._worker import drive_lock
from flock_core.testing import FunctionEngine

from .conftest import Answer, Question, client_for, make_flock

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[3]


async def wait_for_state(http: httpx.AsyncClient, cid: str, artifacts: int) -> dict[str, Any]:
    """Poll a workflow's status until it is completed with `artifacts` artifacts."""
    with anyio.fail_after(10):
        while True:
            response = await http.get(f"/api/v1/correlations/{cid}")
            status: dict[str, Any] = response.json()
            if response.status_code == 200 and status["state"] == "completed" and status["artifact_count"] == artifacts:
                return status
            await anyio.sleep(0.02)


async def test_background_server_keeps_serving_across_user_runs(flock: Flock) -> None:
    handle = await serve(flock, host="127.0.0.1", port=0, blocking=False)
    assert handle.url == f"http://127.0.0.1:{handle.port}"
    assert handle.port != 0
    try:
        async with httpx.AsyncClient(base_url=handle.url) as http:
            await flock.publish(Question(text="local"), correlation_id="local")
            await flock.run_until_idle()  # the user's own run: the server is not cancelled by it
            assert (await http.get("/health")).status_code == 200
            created = await http.post("/api/v1/artifacts", json={"type": "Question", "payload": {"text": "remote"}})
            cid = created.json()["correlation_id"]
            await wait_for_state(http, cid, artifacts=2)  # processed by the server's own worker
            await flock.run_until_idle()
            page = (await http.get("/api/v1/artifacts", params={"type": "Answer"})).json()
            assert sorted(a["payload"]["text"] for a in page["items"]) == ["LOCAL", "REMOTE"]
            assert handle.running
    finally:
        await handle.stop()
    assert not handle.running


async def test_event_stream_over_a_real_connection(flock: Flock) -> None:
    async with await start_server(flock, port=0) as handle, httpx.AsyncClient(base_url=handle.url) as http:
        kinds: list[str] = []
        async with http.stream("GET", "/api/v1/events") as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            lines = stream.aiter_lines()
            assert await anext(lines) == "retry: 3000"  # connected: the subscription is in place
            await http.post("/api/v1/artifacts", json={"type": "Question", "payload": {"text": "live"}})
            with anyio.fail_after(10):
                async for line in lines:
                    if line.startswith("event: "):
                        kinds.append(line.removeprefix("event: "))
                    if kinds[-1:] == ["activation_finished"]:
                        break
        assert kinds == ["artifact_published", "activation_started", "artifact_published", "activation_finished"]


async def test_lifespan_worker_runs_api_publishes_only(flock: Flock) -> None:
    app = create_app(flock, drive="api")
    async with app.router.lifespan_context(app), client_for(app) as http:
        await flock.publish(Question(text="local"), correlation_id="local")
        created = await http.post("/api/v1/artifacts", json={"type": "Question", "payload": {"text": "api"}})
        await wait_for_state(http, created.json()["correlation_id"], artifacts=2)
        # the worker's run picked up the local publish too (one blackboard), and a run after an
        # API publish is what `drive="api"` promises
        assert (await http.get("/api/v1/correlations/local")).json()["state"] == "completed"


async def test_an_api_publish_nobody_consumes_is_stored_without_a_run_and_queued_work_still_runs(
    flock: Flock,
) -> None:
    app, state = build_app(flock, auth=None, max_body_bytes=10_000, dashboard=False, drive="api")
    async with app.router.lifespan_context(app), client_for(app) as http:
        first = await http.post("/api/v1/artifacts", json={"type": "Question", "payload": {"text": "one"}})
        await wait_for_state(http, first.json()["correlation_id"], artifacts=2)
        with anyio.fail_after(10):
            async with drive_lock(flock):  # the worker's run has finished
                runs = state.worker.runs
        assert flock.idle
        for n in range(3):  # no agent consumes an Answer: the Flock stays idle
            created = await http.post("/api/v1/artifacts", json={"type": "Answer", "payload": {"text": f"a{n}"}})
            assert created.status_code == 201
            assert (await http.get(created.headers["location"])).json() == created.json()
        await anyio.sleep(0.05)
        assert state.worker.runs == runs
        assert [a.text for a in await flock.get_by_type(Answer)] == ["ONE", "a0", "a1", "a2"]
        second = await http.post("/api/v1/artifacts", json={"type": "Question", "payload": {"text": "two"}})
        await wait_for_state(http, second.json()["correlation_id"], artifacts=2)
        assert state.worker.runs > runs


async def test_lifespan_worker_in_always_mode_runs_every_publish(flock: Flock) -> None:
    app = create_app(flock, drive="always")
    async with app.router.lifespan_context(app), client_for(app) as http:
        await flock.publish(Question(text="local"), correlation_id="local")
        await wait_for_state(http, "local", artifacts=2)


async def test_the_always_running_worker_cancels_no_workflow_it_did_not_finish(flock: Flock) -> None:
    """Its runs end whenever the board is idle: work that is still waiting (here, paused) must stay."""
    await flock.pause("held")
    await flock.publish(Question(text="held"), correlation_id="held")
    app = create_app(flock, drive="always")
    async with app.router.lifespan_context(app), client_for(app) as http:
        await flock.publish(Question(text="local"), correlation_id="local")
        await wait_for_state(http, "local", artifacts=2)
        assert (await http.get("/api/v1/correlations/held")).json()["state"] != "cancelled"
        await flock.resume("held")
        await wait_for_state(http, "held", artifacts=2)


async def test_never_mode_leaves_the_work_to_the_user(flock: Flock) -> None:
    app = create_app(flock, drive="never")
    async with app.router.lifespan_context(app), client_for(app) as http:
        created = await http.post("/api/v1/artifacts", json={"type": "Question", "payload": {"text": "api"}})
        await anyio.sleep(0.1)
        status = (await http.get(f"/api/v1/correlations/{created.json()['correlation_id']}")).json()
        assert (status["state"], status["artifact_count"]) == ("active", 1)
        await flock.run_until_idle()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_awaiting_a_blocking_serve_inside_a_loop_serves_until_cancelled(flock: Flock) -> None:
    """Flock's `main_dashboard()`: `await flock.serve(dashboard=True)` from async code."""
    port = free_port()

    async def main_dashboard() -> None:
        await flock.serve(dashboard=True, port=port)

    async with anyio.create_task_group() as group, httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        group.start_soon(main_dashboard)
        with anyio.fail_after(10):
            while True:
                try:
                    if (await http.get("/health")).status_code == 200:
                        break
                except httpx.TransportError:
                    await anyio.sleep(0.02)
        created = await http.post("/api/v1/artifacts", json={"type": "Question", "payload": {"text": "q"}})
        await wait_for_state(http, created.json()["correlation_id"], artifacts=2)
        group.cancel_scope.cancel()
    with pytest.raises(httpx.TransportError):
        await httpx.AsyncClient().get(f"http://127.0.0.1:{port}/health")


async def test_a_server_cancelled_while_it_starts_is_stopped_not_left_serving(flock: Flock) -> None:
    """A cancellation that reaches `start_server` before it returns (the server may already answer) stops it."""
    port = free_port()
    with anyio.CancelScope() as scope:
        scope.cancel()
        await start_server(flock, port=port)
    assert not [task for task in asyncio.all_tasks() if task.get_name().startswith("flock-serve-")]
    with pytest.raises(httpx.TransportError):
        await httpx.AsyncClient().get(f"http://127.0.0.1:{port}/health")


async def test_a_background_handle_cancels_as_flocks_task_does(flock: Flock) -> None:
    handle = await flock.serve(port=0, blocking=False)
    assert handle.cancel()
    await handle
    assert not handle.running
    assert not handle.cancel()


async def test_flock_serve_forwards_the_hardening_options(flock: Flock) -> None:
    """`Flock.serve` takes `insecure`, `allowed_hosts` and `max_connections` as `serve()` does."""
    with pytest.raises(ConfigurationError, match="insecure"):
        await flock.serve(host="0.0.0.0", port=0, blocking=False)
    handle = await flock.serve(port=0, blocking=False, allowed_hosts=["flock.internal"], max_connections=5)
    try:
        async with httpx.AsyncClient(base_url=handle.url) as http:
            assert (await http.get("/health", headers={"Host": "flock.internal"})).status_code == 200
            assert (await http.get("/health", headers={"Host": "evil.example"})).status_code == 403
    finally:
        await handle.stop()


async def test_a_taken_port_raises_in_the_caller(flock: Flock) -> None:
    async with await start_server(flock, port=0) as handle:
        with pytest.raises(OSError, match="in use"):
            await start_server(flock, port=handle.port)


async def test_user_run_concurrent_with_the_server_worker() -> None:
    async def slow(request: EvaluationRequest) -> list[BaseModel]:
        await anyio.sleep(0.05)
        return [Answer(text="slow")]

    flock = make_flock()
    flock.agent("slow").consumes(Question).publishes(Answer).with_engines(FunctionEngine(slow))
    async with await start_server(flock, port=0) as handle, httpx.AsyncClient(base_url=handle.url) as http:
        for n in range(3):
            await http.post("/api/v1/artifacts", json={"type": "Question", "payload": {"text": f"api{n}"}})
        await anyio.sleep(0.01)  # the server's worker is now driving the Flock
        for n in range(3):
            await flock.publish(Question(text=f"local{n}"))
        with anyio.fail_after(3):
            await flock.run_until_idle()  # a second driver at the same time
            # whichever driver lost its wake-up event hangs; the worker must still serve new publishes
            created = await http.post("/api/v1/artifacts", json={"type": "Question", "payload": {"text": "after"}})
            await wait_for_state(http, created.json()["correlation_id"], artifacts=3)


def test_blocking_serve_prints_its_url_and_runs_until_interrupted(tmp_path: Path) -> None:
    script = tmp_path / "serve_it.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import sys
            sys.path.insert(0, {str(ROOT)!r})
            from tests.flock_core.serve.conftest import make_flock
            from flock_core.serve import serve
            serve(make_flock(), port=0)
            """
        )
    )
    process = subprocess.Popen(
        [sys.executable, str(script)], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # printed once the port is bound, before serving starts
        match = re.fullmatch(r"flock: serving on (http://127\.0\.0\.1:(\d+)) \(Ctrl-C stops\)\n", line)
        assert match is not None, line
        assert match.group(2) != "0", line
        with httpx.Client(base_url=match.group(1)) as http:
            created = http.post("/api/v1/artifacts", json={"type": "Question", "payload": {"text": "b"}}).json()
            status: dict[str, Any] = {}
            for _ in range(400):
                status = http.get(f"/api/v1/correlations/{created['correlation_id']}").json()
                if status["artifact_count"] == 2:
                    break
                anyio.run(anyio.sleep, 0.025)
            assert (status["state"], status["artifact_count"]) == ("completed", 2), json.dumps(status)
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=20)
    assert process.returncode == 0, stderr
    assert "Uvicorn running" in stderr or "Application startup complete" in stderr


async def test_stop_ends_open_event_streams(flock: Flock) -> None:
    handle = await start_server(flock, port=0)
    async with httpx.AsyncClient(base_url=handle.url) as http, http.stream("GET", "/api/v1/events") as stream:
        lines = stream.aiter_lines()
        assert await anext(lines) == "retry: 3000"
        with anyio.fail_after(5):
            await handle.stop()  # would wait forever for the open stream if it were not ended first
            rest = [line async for line in lines]
    assert "event: " not in "".join(rest)
