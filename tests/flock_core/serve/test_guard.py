"""The hardened HTTP surface: content types, Host/Origin, security headers, hostile bodies, sockets, binds."""

from __future__ import annotations

import contextlib
import logging
import socket

import anyio
import httpx
import pytest
from starlette.requests import Request
from starlette.types import Message, Receive, Scope, Send

from flock_core import ArtifactQuery, Flock
from flock_core.exceptions import ConfigurationError
from flock_core.serve import create_app, start_server
from flock_core.serve._guard import Guard
from flock_core.serve._http import ApiError, read_json

from .conftest import KEYS, client_for, key

pytestmark = pytest.mark.anyio

QUESTION = b'{"type": "Question", "payload": {"text": "x"}}'


def error_of(response: httpx.Response) -> tuple[int, str]:
    assert response.headers["content-type"] == "application/json"
    return response.status_code, response.json()["error"]["code"]


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/jsonx"],
)
async def test_a_body_that_is_not_json_is_415(client: httpx.AsyncClient, content_type: str | None) -> None:
    headers = {} if content_type is None else {"content-type": content_type}
    for path in ("/api/v1/artifacts", "/api/v1/agents/answerer/run"):
        response = await client.post(path, content=QUESTION, headers=headers)
        assert error_of(response) == (415, "unsupported_media_type")


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8", "application/x+json"])
async def test_json_content_types_are_accepted(client: httpx.AsyncClient, content_type: str) -> None:
    response = await client.post("/api/v1/artifacts", content=QUESTION, headers={"content-type": content_type})
    assert response.status_code == 201


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(
            b'{"type": "Question", "payload": {"text": "x", "n": ' + b"[" * 10_000 + b"]" * 10_000 + b"}}", id="deep"
        ),
        pytest.param(b'{"type": "Question", "payload": {"text": "x", "n": ' + b"[" * 65 + b"]" * 65 + b"}}", id="65"),
        pytest.param(b'{"type": "Question", "payload": {"text": "x", "n": ' + b"1" * 100_000 + b"}}", id="huge-int"),
        pytest.param(b'{"type": "Question", "payload": {"text": "x", "n": 1e999}}', id="infinite-float"),
        pytest.param(b'{"type": "Question", "payload": {"text": "x", "n": NaN}}', id="nan"),
    ],
)
async def test_hostile_json_is_400_in_the_error_shape(flock: Flock, body: bytes) -> None:
    async with client_for(create_app(flock, max_body_bytes=1_000_000)) as http:
        response = await http.post("/api/v1/artifacts", content=body, headers={"content-type": "application/json"})
    assert error_of(response) == (400, "malformed_json")


async def test_half_a_body_gets_408_and_the_connection_is_closed(flock: Flock, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("flock_core.serve._http.BODY_TIMEOUT", 0.1)
    handle = await start_server(flock, port=0)
    try:
        async with await anyio.connect_tcp("127.0.0.1", handle.port) as stream:
            head = b"POST /api/v1/artifacts HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            await stream.send(head + b'Content-Length: 100\r\n\r\n{"type": ')
            received = b""
            with anyio.fail_after(5):
                with contextlib.suppress(anyio.EndOfStream):
                    while True:  # until the server closes the connection
                        received += await stream.receive()
    finally:
        await handle.stop()
    assert received.startswith(b"HTTP/1.1 408 ")
    assert b"connection: close" in received
    assert b'"code":"body_timeout"' in received


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"host": "localhost:8344"}, 200),
        ({"host": "127.0.0.1:8344"}, 200),
        ({"host": "[::1]:8344"}, 200),
        ({"host": "evil.example"}, 403),
        ({"host": "localhost.evil.example"}, 403),
        ({"host": "a b"}, 403),
        ({"host": "localhost", "origin": "http://localhost:8344"}, 200),
        ({"host": "localhost", "origin": "https://evil.example"}, 403),
        ({"host": "localhost", "origin": "null"}, 403),
    ],
)
async def test_an_open_server_checks_host_and_origin(
    client: httpx.AsyncClient, headers: dict[str, str], expected: int
) -> None:
    response = await client.get("/api/v1/agents", headers=headers)
    assert response.status_code == expected
    if expected == 403:
        assert error_of(response)[1] in {"forbidden_host", "forbidden_origin"}


async def test_a_cross_site_post_spends_nothing(client: httpx.AsyncClient, flock: Flock) -> None:
    form = {"host": "localhost", "origin": "https://evil.example", "content-type": "text/plain"}
    response = await client.post("/api/v1/agents/answerer/run", content=QUESTION, headers=form)
    assert error_of(response) == (403, "forbidden_origin")
    assert (await flock.store.query(ArtifactQuery())).total == 0


async def test_allowed_hosts_and_an_authenticated_server(flock: Flock) -> None:
    async with client_for(create_app(flock, allowed_hosts=["flock.internal"])) as http:
        assert (await http.get("/health", headers={"host": "flock.internal"})).status_code == 200
        assert (await http.get("/health", headers={"host": "localhost"})).status_code == 403
    async with client_for(create_app(flock, auth=KEYS)) as http:  # keys, not the Host, decide who calls
        assert (await http.get("/api/v1/agents", headers={"host": "flock.example", **key("alice")})).status_code == 200


@pytest.mark.parametrize("path", ["/", "/api/v1/agents", "/docs", "/nowhere"])
async def test_security_headers_on_every_response(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert {name: response.headers.get(name) for name in ("x-frame-options", "x-content-type-options")} == {
        "x-frame-options": "DENY",
        "x-content-type-options": "nosniff",
    }
    policy = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy
    assert "script-src 'self'" in policy


async def test_an_unexpected_error_is_a_json_500(flock: Flock, caplog: pytest.LogCaptureFixture) -> None:
    def broken(request: object) -> None:
        raise RuntimeError("authenticator exploded")

    with caplog.at_level(logging.ERROR, logger="flock_core.serve"):
        async with client_for(create_app(flock, auth=broken)) as http:
            response = await http.get("/api/v1/agents")
    assert error_of(response) == (500, "internal_error")
    assert "exploded" not in response.text
    assert [r.getMessage() for r in caplog.records] == ["unhandled error in GET /api/v1/agents"]


async def test_accepted_sockets_have_tcp_nodelay(flock: Flock) -> None:
    handle = await start_server(flock, port=0)
    try:
        async with httpx.AsyncClient(base_url=handle.url) as http:
            assert (await http.get("/health")).status_code == 200
            connections = handle._server.server_state.connections  # pyright: ignore[reportPrivateUsage]
            sockets = [c.transport.get_extra_info("socket") for c in connections]  # pyright: ignore
            assert sockets
            assert all(s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) for s in sockets)
    finally:
        await handle.stop()


async def test_an_open_server_on_a_public_interface_is_refused(flock: Flock, caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(ConfigurationError, match=r"refusing to serve on '0\.0\.0\.0' without authentication"):
        await start_server(flock, host="0.0.0.0", port=0)
    with caplog.at_level(logging.WARNING, logger="flock_core.serve"):
        handle = await start_server(flock, host="0.0.0.0", port=0, insecure=True)
    await handle.stop()
    assert [r.getMessage() for r in caplog.records] == [
        "serving on 0.0.0.0 WITHOUT authentication (insecure=True): every caller is anonymous"
    ]
    keyed = await start_server(flock, host="0.0.0.0", port=0, auth=KEYS)
    await keyed.stop()


async def test_connections_beyond_the_cap_get_503(flock: Flock) -> None:
    handle = await start_server(flock, port=0, max_connections=2)  # a third connection may not be served
    try:
        async with httpx.AsyncClient(base_url=handle.url) as one, httpx.AsyncClient(base_url=handle.url) as two:
            assert [(await c.get("/health")).status_code for c in (one, two)] == [200, 200]  # both stay open
            async with httpx.AsyncClient(base_url=handle.url) as three:
                assert (await three.get("/health")).status_code == 503
    finally:
        await handle.stop()


async def _ok(scope: Scope, receive: Receive, send: Send) -> None:
    """An app that answers 200 with its own Content-Security-Policy, its headers as a tuple."""
    headers = ((b"content-type", b"text/plain"), (b"content-security-policy", b"default-src 'none'"))
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"ok"})


async def _call(guard: Guard, headers: list[tuple[bytes, bytes]]) -> list[Message]:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope: Scope = {"type": "http", "method": "GET", "path": "/", "headers": headers}
    await guard(scope, receive, send)
    return sent


async def test_the_guard_reads_the_first_host_and_origin_and_keeps_a_policy_the_app_set() -> None:
    guard = Guard(_ok, allowed_hosts=["localhost"])
    refused = await _call(guard, [(b"host", b"evil.example"), (b"host", b"localhost")])
    assert refused[0]["status"] == 403
    crossed = [(b"host", b"localhost"), (b"origin", b"https://evil.example"), (b"origin", b"http://localhost")]
    assert (await _call(guard, crossed))[0]["status"] == 403
    start = (await _call(guard, [(b"host", b"localhost"), (b"origin", b"http://localhost")]))[0]
    assert start["status"] == 200
    names = [name for name, _ in start["headers"]]
    assert sorted(names) == sorted(
        [b"content-type", b"content-security-policy", b"x-frame-options", b"x-content-type-options", b"referrer-policy"]
    )
    assert dict(start["headers"])[b"content-security-policy"] == b"default-src 'none'"  # the app's, not replaced


def _stalled_request() -> Request:
    async def receive() -> Message:
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    scope: Scope = {"type": "http", "method": "POST", "path": "/", "headers": [(b"content-type", b"application/json")]}
    return Request(scope, receive)


async def test_a_stalled_body_times_out_but_a_cancelled_read_is_not_a_timeout() -> None:
    with pytest.raises(ApiError) as raised:
        await read_json(_stalled_request(), 1_000, timeout=0.05)
    assert (raised.value.status, raised.value.code) == (408, "body_timeout")
    with anyio.move_on_after(0.05) as outer:  # a shutdown cancelling the request, well within its body timeout
        await read_json(_stalled_request(), 1_000, timeout=30)
    assert outer.cancelled_caught
