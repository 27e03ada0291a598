"""Tests of the local OpenAI-compatible fake server."""

from __future__ import annotations

import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from dirty_equals import IsInt, IsStr

from flock_core.agents._semantic import cosine
from flock_core.testing import hashed_embedding
from flock_core.testing._fake_openai import ChatRequest, FakeOpenAIServer, Fault

HELLO = [{"role": "user", "content": "hello world!"}]  # 12 chars -> 3 prompt tokens


def chat(server: FakeOpenAIServer, messages: list[dict[str, Any]] = HELLO, **extra: Any) -> httpx.Response:
    with httpx.Client(timeout=5.0) as client:
        return client.post(f"{server.base_url}/chat/completions", json={"model": "fake", "messages": messages, **extra})


def content(response: httpx.Response) -> str:
    return response.json()["choices"][0]["message"]["content"]


def sse_events(response: httpx.Response) -> list[str]:
    return [line.removeprefix("data: ") for line in response.text.splitlines() if line.startswith("data: ")]


def test_chat_completion_has_openai_shape_and_usage(fake_openai: FakeOpenAIServer) -> None:
    response = chat(fake_openai)

    assert response.status_code == 200
    assert response.json() == {
        "id": "chatcmpl-fake-0",
        "object": "chat.completion",
        "created": IsInt(),
        "model": "fake",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "ok"},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
    }


def test_streaming_sends_deltas_usage_and_done() -> None:
    reply = "a streamed reply longer than one piece"
    with FakeOpenAIServer(replies=[reply]) as server:
        response = chat(server, stream=True, stream_options={"include_usage": True})

    assert response.headers["content-type"] == "text/event-stream"
    events = sse_events(response)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(event) for event in events[:-1]]
    assert {chunk["object"] for chunk in chunks} == {"chat.completion.chunk"}
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"]) == reply
    assert chunks[-2]["choices"] == [{"index": 0, "delta": {}, "finish_reason": "stop"}]
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == {"prompt_tokens": 3, "completion_tokens": 10, "total_tokens": 13}


def test_streaming_without_include_usage_has_no_usage_chunk(fake_openai: FakeOpenAIServer) -> None:
    chunks = [json.loads(event) for event in sse_events(chat(fake_openai, stream=True))[:-1]]

    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert all("usage" not in chunk for chunk in chunks)


def test_scripted_replies_come_in_order_and_the_last_repeats() -> None:
    with FakeOpenAIServer.scripted(["one", "two"]) as server:
        assert [content(chat(server)) for _ in range(4)] == ["one", "two", "two", "two"]


def test_responder_sees_the_parsed_request() -> None:
    def responder(request: ChatRequest) -> str:
        return f"{request.call_index}:{request.model}:{request.messages[-1]['content']}"

    with FakeOpenAIServer(responder) as server:
        assert content(chat(server)) == "0:fake:hello world!"
        assert content(chat(server)) == "1:fake:hello world!"


def test_requests_are_recorded_with_prompt_size(fake_openai: FakeOpenAIServer) -> None:
    parts = [{"type": "text", "text": "abc"}, {"type": "image_url", "image_url": {"url": "x"}}]
    chat(fake_openai)
    chat(fake_openai, messages=[{"role": "system", "content": "sys"}, {"role": "user", "content": parts}])

    first, second = fake_openai.requests
    assert first == ChatRequest(call_index=0, model="fake", messages=HELLO, body={"model": "fake", "messages": HELLO})
    assert (second.call_index, second.stream) == (1, False)
    assert [fake_openai.prompt_chars(0), fake_openai.prompt_chars(1)] == [12, 6]


def test_http_429_fault_sends_error_json_and_retry_after() -> None:
    with FakeOpenAIServer(replies=["first"], faults={0: "http_429"}) as server:
        limited = chat(server)
        retried = chat(server)

    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "0"
    assert limited.json() == {
        "error": {"message": IsStr(), "type": "requests", "param": None, "code": "rate_limit_exceeded"}
    }
    assert content(retried) == "first"  # a faulted call does not consume a scripted reply
    assert [request.call_index for request in server.requests] == [0, 1]


def test_http_500_fault_from_a_callable_plan() -> None:
    def plan(call_index: int) -> Fault | None:
        return "http_500" if call_index % 2 else None

    with FakeOpenAIServer(faults=plan) as server:
        statuses = [chat(server).status_code for _ in range(3)]
        streamed = chat(server, stream=True)

    assert statuses == [200, 500, 200]
    assert streamed.status_code == 500
    assert streamed.json()["error"]["type"] == "server_error"


def test_malformed_and_empty_faults_return_unusable_content() -> None:
    with FakeOpenAIServer(faults={0: "malformed", 1: "empty"}) as server:
        malformed, empty, normal = chat(server), chat(server), chat(server)

    assert content(malformed) == FakeOpenAIServer.MALFORMED_REPLY
    with pytest.raises(json.JSONDecodeError):
        json.loads(content(malformed))
    assert content(empty) == ""
    assert empty.json()["usage"]["completion_tokens"] == 0
    assert content(normal) == "ok"


def test_timeout_fault_holds_the_connection_and_stop_releases_it() -> None:
    server = FakeOpenAIServer(faults={0: "timeout"}, fault_delay=30.0).start()
    try:
        with httpx.Client(timeout=0.2) as client, pytest.raises(httpx.ReadTimeout):
            client.post(f"{server.base_url}/chat/completions", json={"model": "fake", "messages": HELLO})
    finally:
        started = time.monotonic()
        server.stop()
    assert time.monotonic() - started < 2.0


def test_latency_is_applied_concurrently() -> None:
    with FakeOpenAIServer(latency=0.2) as server, httpx.Client(timeout=5.0) as client:

        def one(_: int) -> int:
            url = f"{server.base_url}/chat/completions"
            return client.post(url, json={"model": "fake", "messages": HELLO}).status_code

        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=20) as pool:
            statuses = list(pool.map(one, range(20)))
        elapsed = time.monotonic() - started

    assert statuses == [200] * 20
    assert 0.2 <= elapsed < 2.0
    assert sorted(request.call_index for request in server.requests) == list(range(20))


def test_models_endpoint_lists_a_model(fake_openai: FakeOpenAIServer) -> None:
    with httpx.Client() as client:
        response = client.get(f"{fake_openai.base_url}/models")

    assert response.json() == {
        "object": "list",
        "data": [{"id": "fake", "object": "model", "owned_by": "fake"}],
    }


def test_bad_requests_get_openai_style_errors(fake_openai: FakeOpenAIServer) -> None:
    with httpx.Client() as client:
        unknown = client.post(f"{fake_openai.base_url}/completions", json={})
        not_json = client.post(f"{fake_openai.base_url}/chat/completions", content=b"{nope")

    assert (unknown.status_code, not_json.status_code) == (404, 400)
    assert "error" in not_json.json()
    assert fake_openai.requests == []


def test_a_raising_responder_becomes_a_500() -> None:
    def responder(request: ChatRequest) -> str:
        raise KeyError(request.call_index)

    with FakeOpenAIServer(responder) as server:
        response = chat(server)

    assert response.status_code == 500
    assert "KeyError" in response.json()["error"]["message"]


def test_stop_closes_idle_keep_alive_connections() -> None:
    threads_before = threading.active_count()
    server = FakeOpenAIServer().start()
    with httpx.Client() as client:
        client.get(f"{server.base_url}/models")  # leaves a pooled keep-alive connection open
        started = time.monotonic()
        server.stop()
        assert time.monotonic() - started < 2.0
    server.stop()  # stopping twice is harmless
    assert threading.active_count() == threads_before


def test_replies_are_sent_without_waiting_for_delayed_acks() -> None:
    """Nagle's algorithm off: a reply's body does not wait for the ACK of its headers (40 ms per call)."""
    with FakeOpenAIServer() as server, httpx.Client() as client:
        client.get(f"{server.base_url}/models")  # the keep-alive connection stays open and tracked
        assert server._httpd is not None
        [connection] = server._httpd._connections
        assert connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


def test_misconfiguration_is_rejected() -> None:
    with pytest.raises(ValueError, match="not both"):
        FakeOpenAIServer(lambda _: "x", replies=["y"])
    with pytest.raises(ValueError, match="unknown fault"):
        FakeOpenAIServer(faults={0: "boom"})  # pyright: ignore[reportArgumentType]
    with pytest.raises(ValueError, match="at least one"):
        FakeOpenAIServer(replies=[])
    with pytest.raises(RuntimeError, match="not running"):
        _ = FakeOpenAIServer().base_url


def test_litellm_talks_to_the_fake_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm
    import openai

    with (
        FakeOpenAIServer(replies=["from the fake"]) as server,
        # An explicit client, closed here: litellm's own cached client would keep a socket open until exit.
        openai.OpenAI(base_url=server.base_url, api_key="x") as client,
    ):
        response: Any = litellm.completion(
            model="openai/fake", api_base=server.base_url, api_key="x", messages=HELLO, client=client
        )

    assert response.choices[0].message.content == "from the fake"
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (3, 4)
    assert server.requests[0].messages == HELLO


def test_embeddings_are_deterministic_bags_of_words(fake_openai: FakeOpenAIServer) -> None:
    body = {"model": "fake-embed", "input": ["Refunds, please!", "refund"], "dimensions": 8}
    with httpx.Client(timeout=5.0) as client:
        first = client.post(f"{fake_openai.base_url}/embeddings", json=body)
        again = client.post(f"{fake_openai.base_url}/embeddings", json={**body, "input": "refund"})
        bad = client.post(f"{fake_openai.base_url}/embeddings", json={"model": "fake-embed", "input": [1, 2]})

    assert first.json() == {
        "object": "list",
        "data": [
            {"object": "embedding", "index": 0, "embedding": hashed_embedding("refund", 8)},
            {"object": "embedding", "index": 1, "embedding": hashed_embedding("refund", 8)},
        ],
        "model": "fake-embed",
        "usage": {"prompt_tokens": 3, "total_tokens": 3},
    }
    assert again.json()["data"][0]["embedding"] == hashed_embedding("refund", 8)
    assert cosine(hashed_embedding("refund"), hashed_embedding("refund")) == pytest.approx(1.0)
    assert bad.status_code == 400
    assert fake_openai.embedding_requests == [["Refunds, please!", "refund"], ["refund"]]
    assert fake_openai.requests == []
