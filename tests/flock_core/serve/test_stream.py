"""`GET /api/v1/events`: Server-Sent Events filtered by what each caller may see."""

from __future__ import annotations

import json
from typing import Any

import anyio
import httpx
import pytest
from dirty_equals import IsDatetime

from flock_core import (
    ActivationFailed,
    ActivationFinished,
    ActivationStarted,
    AgentIdentity,
    EventBus,
    Flock,
    PrivateVisibility,
    TenantVisibility,
    TokenStreamed,
)
from flock_core.serve import EventFilter
from flock_core.serve._metrics import Metrics
from flock_core.serve._state import ServeState
from flock_core.serve._stream import _Subscription  # pyright: ignore[reportPrivateUsage]
from flock_core.serve._worker import Worker

from .conftest import Question, key

pytestmark = pytest.mark.anyio


def parse_frames(text: str) -> list[tuple[str, dict[str, Any]]]:
    """`(event name, data)` of every SSE frame that carries data."""
    frames: list[tuple[str, dict[str, Any]]] = []
    for block in text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if line and not line.startswith(":"))
        if "data" in fields:
            frames.append((fields["event"], json.loads(fields["data"])))
    return frames


async def wait_for_stream_clients(http: httpx.AsyncClient, count: int, headers: dict[str, str]) -> None:
    with anyio.fail_after(5):
        while f"flock_event_stream_clients {count}\n" not in (await http.get("/metrics", headers=headers)).text:  # noqa: ASYNC110 - polling
            await anyio.sleep(0.01)


async def test_events_are_filtered_per_caller(keyed: httpx.AsyncClient, flock: Flock) -> None:
    received: dict[str, str] = {}

    async def listen(caller: str, count: int) -> None:
        response = await keyed.get("/api/v1/events", params={"max_events": count}, headers=key(caller))
        assert response.headers["content-type"].startswith("text/event-stream")
        received[caller] = response.text

    async with anyio.create_task_group() as group:
        group.start_soon(listen, "alice", 5)
        group.start_soon(listen, "bob", 5)
        await wait_for_stream_clients(keyed, 2, key("admin"))
        await flock.publish(Question(text="public"), correlation_id="p")
        await flock.publish(Question(text="globex"), visibility=TenantVisibility(tenant_id="globex"))
        await flock.publish(Question(text="acme"), visibility=TenantVisibility(tenant_id="acme"))
        await flock.run_until_idle()
    alice, bob = parse_frames(received["alice"]), parse_frames(received["bob"])
    assert [kind for kind, _ in alice] == [
        "artifact_published",
        "artifact_published",
        "activation_started",
        "artifact_published",
        "activation_finished",
    ]
    assert [d["artifact"]["payload"]["text"] for k, d in alice if k == "artifact_published"] == [
        "public",
        "acme",
        "PUBLIC",
    ]
    assert [d["artifact"]["payload"]["text"] for k, d in bob if k == "artifact_published"] == [
        "public",
        "globex",
        "PUBLIC",
    ]
    started, finished = alice[2][1], alice[4][1]
    assert (started["agent"], started["correlation_id"], finished["work_key"]) == ("answerer", "p", started["work_key"])
    assert finished["output_ids"] == [alice[3][1]["artifact"]["id"]]
    assert received["alice"].startswith("retry: 3000\n")
    await wait_for_stream_clients(keyed, 0, key("admin"))


async def test_event_stream_needs_credentials(keyed: httpx.AsyncClient) -> None:
    assert (await keyed.get("/api/v1/events")).status_code == 401
    bad = await keyed.get("/api/v1/events", params={"max_events": "0"}, headers=key("alice"))
    assert bad.status_code == 422


async def test_activation_events_need_every_input_visible(flock: Flock) -> None:
    state = ServeState(flock, None, 1000, Metrics(), Worker(flock, "never"))
    visible = await flock.publish(Question(text="open"))
    hidden = await flock.publish(Question(text="closed"), visibility=PrivateVisibility(agents=frozenset({"x"})))
    guest = EventFilter(state, AgentIdentity("guest"))

    def started(key: str, *inputs: str) -> ActivationStarted:
        return ActivationStarted("answerer", key, "c", inputs)

    assert await guest.view(started("k1", str(visible.id), str(hidden.id))) is None
    assert await guest.view(ActivationFinished("answerer", "k1", "c", ())) is None
    assert await guest.view(TokenStreamed("answerer", "k1", "secret tokens")) is None
    assert await guest.view(ActivationFailed("answerer", "k1", "c", "EngineError", "secret")) is None
    assert await guest.view(started("k2", "not-a-uuid")) is None
    assert await guest.view(started("k3", "0190a1b2-0000-7000-8000-000000000000")) is None  # missing: denied

    assert await guest.view(started("k4", str(visible.id))) is not None
    assert await guest.view(TokenStreamed("answerer", "k4", "tok", "c", 1)) == {
        "agent": "answerer",
        "work_key": "k4",
        "text": "tok",
        "correlation_id": "c",
        "attempt": 1,
        "kind": "token_streamed",
        "at": IsDatetime(iso_string=True),
    }
    finished = await guest.view(ActivationFinished("answerer", "k4", "c", (str(visible.id), str(hidden.id))))
    assert finished is not None
    assert finished["output_ids"] == [str(visible.id)]
    assert await guest.view(ActivationFinished("answerer", "k4", "c", ())) is None  # settled once only

    assert await guest.view(started("k5")) is not None  # a scheduled activation has no inputs
    failed = await guest.view(ActivationFailed("answerer", "k5", "c", "EngineError", "boom"))
    assert failed is not None
    assert (failed["kind"], failed["message"]) == ("activation_failed", "boom")


# -- streamed tokens -----------------------------------------------------------------------------------


async def test_a_caller_gets_the_tokens_of_visible_activations_only(keyed: httpx.AsyncClient, flock: Flock) -> None:
    received: dict[str, str] = {}

    async def listen(caller: str, count: int, tokens: bool) -> None:
        params = {"max_events": count, "tokens": "true" if tokens else "false"}
        received[caller] = (await keyed.get("/api/v1/events", params=params, headers=key(caller))).text

    async with anyio.create_task_group() as group:
        group.start_soon(listen, "alice", 6, True)  # the public question, its start, 2 tokens, answer, finish
        group.start_soon(listen, "admin", 13, True)  # both activations: 4 events each and 2 + 3 tokens
        group.start_soon(listen, "bob", 4, False)  # the public activation's events, without its tokens
        await wait_for_stream_clients(keyed, 3, key("admin"))
        assert flock.events.streaming
        await flock.publish(Question(text="public question"), correlation_id="open")
        secret = PrivateVisibility(agents=frozenset({"answerer", "admin"}))
        await flock.publish(Question(text="merger plan secret"), visibility=secret, correlation_id="closed")
        await flock.run_until_idle()
    alice, admin, bob = (parse_frames(received[c]) for c in ("alice", "admin", "bob"))
    assert "".join(d["text"] for k, d in alice if k == "token_streamed") == "PUBLIC QUESTION "
    assert "MERGER" not in received["alice"]
    assert "MERGER" not in received["bob"]
    [started] = [d for k, d in alice if k == "activation_started"]
    assert {(d["work_key"], d["correlation_id"]) for k, d in alice if k == "token_streamed"} == {
        (started["work_key"], "open")
    }
    secret_tokens = "".join(d["text"] for k, d in admin if k == "token_streamed" and d["correlation_id"] == "closed")
    assert secret_tokens == "MERGER PLAN SECRET "
    assert [k for k, _ in bob] == [
        "artifact_published",
        "activation_started",
        "artifact_published",
        "activation_finished",
    ]
    await wait_for_stream_clients(keyed, 0, key("admin"))
    assert not flock.events.streaming  # the last token subscriber left: engines stop streaming


async def test_tokens_must_be_a_boolean(keyed: httpx.AsyncClient) -> None:
    bad = await keyed.get("/api/v1/events", params={"tokens": "maybe"}, headers=key("alice"))
    assert bad.status_code == 422
    assert "tokens" in bad.text


def test_a_slow_client_loses_tokens_first_and_never_blocks_the_run() -> None:
    subscription = _Subscription(buffer=10, token_buffer=5)
    bus = EventBus()
    bus.subscribe(subscription.offer, tokens=True)
    for number in range(20):  # nobody reads: every emit returns at once
        bus.emit(TokenStreamed("answerer", "k", f"t{number}"))
    bus.emit(ActivationFinished("answerer", "k", "c", ()))
    assert (subscription.dropped, subscription.dropped_tokens) == (15, 15)
    for _ in range(10):
        bus.emit(ActivationFailed("answerer", "k", "c", "EngineError", "x"))
    assert subscription.lagged() == {"kind": "lagged", "dropped": 21, "dropped_tokens": 15}
    queued = [subscription.receive.receive_nowait() for _ in range(10)]
    assert [e.kind for e in queued] == ["token_streamed"] * 5 + ["activation_finished"] + ["activation_failed"] * 4
    assert subscription.lagged()["dropped"] == 0
    subscription.send.close()
    subscription.receive.close()
