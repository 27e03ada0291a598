"""A local, OpenAI-compatible chat-completions server: a test double shipped with the library.

`FakeOpenAIServer` listens on `127.0.0.1` on a free port and answers `POST /v1/chat/completions`
(plain JSON, or server-sent events when the request sets `"stream": true`), `POST /v1/embeddings`
(deterministic hashed bag-of-words vectors: texts sharing words are close) and `GET /v1/models`. It lets
tests drive real HTTP clients (httpx, the `openai` SDK, LiteLLM, DSPy) without touching the network:

```python
import httpx

with FakeOpenAIServer(replies=["first", "second"], latency=0.01, faults={0: "http_429"}) as server:
    url = f"{server.base_url}/chat/completions"  # base_url is "http://127.0.0.1:PORT/v1"
    body = {"model": "fake", "messages": [{"role": "user", "content": "hello"}]}
    assert httpx.post(url, json=body).status_code == 429
    assert httpx.post(url, json=body).json()["choices"][0]["message"]["content"] == "first"
    assert server.requests[1].messages[-1]["content"] == "hello"
    assert server.prompt_chars(1) == 5
```

Each request gets a 0-based `call_index` in arrival order. The reply comes from a *responder*
(`Callable[[ChatRequest], str | ToolCallReply]`, default: always `"ok"`) or from a script of `replies` served
in order, the last one repeating once the script is exhausted. A `ToolCallReply` answers with `tool_calls`
(`finish_reason: "tool_calls"`), as a provider does with native function calling; `ChatRequest.tools` holds
the tools the client offered. A *fault* may replace the reply of a given call:

| fault         | what the client sees                                                               |
|---------------|------------------------------------------------------------------------------------|
| `"http_429"`  | status 429, an OpenAI-style error body and `Retry-After: 0`                        |
| `"http_500"`  | status 500, an OpenAI-style error body                                             |
| `"timeout"`   | nothing for `fault_delay` seconds, then the connection closes without a response   |
| `"malformed"` | a well-formed completion whose content is garbage (`FakeOpenAIServer.MALFORMED_REPLY`) |
| `"empty"`     | a well-formed completion whose content is the empty string                         |

A faulted call does not consume a scripted reply. Requests are served concurrently, one thread each, so
`latency` delays every request by the same amount without serialising them. Token usage is estimated
as `ceil(chars / 4)` of the prompt's message contents and of the reply.
"""

from __future__ import annotations

import contextlib
import json
import math
import socket
import socketserver
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, ClassVar, Literal, Self, cast, get_args

from ._fake_embeddings import embedding_response
from ._tool_calls import ToolCallReply

__all__ = ["ChatRequest", "FakeOpenAIServer", "Fault", "Reply"]

Fault = Literal["http_429", "http_500", "timeout", "malformed", "empty"]
"""A failure injected into one call; see the module docstring for what each one looks like."""

_FAULTS: frozenset[str] = frozenset(get_args(Fault))
_STREAM_PIECE_CHARS = 16
_HANDLER_IDLE_TIMEOUT = 30.0
_POLL_INTERVAL = 0.05
_MODEL = {"id": "fake", "object": "model", "owned_by": "fake"}


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """One chat-completions request as the fake server received it.

    Attributes:
        call_index: 0-based position of the request among all chat requests the server received.
        model: The `model` field of the request body.
        messages: The `messages` field of the request body.
        body: The whole parsed JSON body.
    """

    call_index: int
    model: str
    messages: list[dict[str, Any]]
    body: dict[str, Any]

    @property
    def stream(self) -> bool:
        """Whether the client asked for a server-sent-events stream."""
        return self.body.get("stream") is True

    @property
    def include_usage(self) -> bool:
        """Whether a streaming client asked for a final usage chunk (`stream_options.include_usage`)."""
        options = self.body.get("stream_options")
        return isinstance(options, dict) and cast(dict[str, Any], options).get("include_usage") is True

    @property
    def tools(self) -> list[dict[str, Any]]:
        """The `tools` the client offered the model (OpenAI function definitions), if any."""
        return list(cast(list[dict[str, Any]], self.body.get("tools") or []))

    @property
    def prompt_chars(self) -> int:
        """Number of characters in the text content of all messages."""
        return sum(_content_chars(message.get("content")) for message in self.messages)


Reply = str | ToolCallReply
"""What the fake model answers: text, or a `ToolCallReply` asking to call tools."""
Responder = Callable[[ChatRequest], Reply]
FaultPlan = Mapping[int, Fault] | Callable[[int], Fault | None]


def _content_chars(content: object) -> int:
    """Count the text characters of a message `content`: a string or a list of content parts."""
    if isinstance(content, str):
        return len(content)
    if isinstance(content, list):
        parts = cast(list[object], content)
        return sum(
            len(text)
            for part in parts
            if isinstance(part, dict) and isinstance(text := cast(dict[str, object], part).get("text"), str)
        )
    return 0


def _estimate_tokens(chars: int) -> int:
    return math.ceil(chars / 4)


def _usage(request: ChatRequest, reply: Reply) -> dict[str, int]:
    prompt = _estimate_tokens(request.prompt_chars)
    completion = _estimate_tokens(len(reply) if isinstance(reply, str) else reply.text_size())
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _always_ok(request: ChatRequest) -> str:
    del request
    return "ok"


class _Script:
    """A responder returning `replies` in order, repeating the last one once they run out."""

    def __init__(self, replies: Sequence[Reply]) -> None:
        if not replies:
            raise ValueError("replies must contain at least one reply")
        self._replies = tuple(replies)
        self._served = 0
        self._lock = threading.Lock()

    def __call__(self, request: ChatRequest) -> Reply:
        del request
        with self._lock:
            index = min(self._served, len(self._replies) - 1)
            self._served += 1
        return self._replies[index]


def _error_body(status: int) -> dict[str, Any]:
    if status == 429:
        error = {"message": "Rate limit reached (fake).", "type": "requests", "code": "rate_limit_exceeded"}
    elif status == 500:
        error = {"message": "The server had an error (fake).", "type": "server_error", "code": None}
    else:
        error = {"message": f"Request failed with status {status} (fake).", "type": "invalid_request_error"}
    return {"error": {"param": None, "code": None, **error}}


def _message(request: ChatRequest, reply: Reply) -> tuple[dict[str, Any], str]:
    """The assistant message of `reply` and its finish reason."""
    if isinstance(reply, str):
        return {"role": "assistant", "content": reply}, "stop"
    return {"role": "assistant", "content": None, "tool_calls": reply.wire(request.call_index)}, "tool_calls"


def _completion(request: ChatRequest, reply: Reply) -> dict[str, Any]:
    message, finish_reason = _message(request, reply)
    return {
        "id": f"chatcmpl-fake-{request.call_index}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": finish_reason,
            }
        ],
        "usage": _usage(request, reply),
    }


def _chunks(request: ChatRequest, reply: Reply) -> Iterator[dict[str, Any]]:
    """The stream of `chat.completion.chunk` events for `reply`, in OpenAI's order."""
    base: dict[str, Any] = {
        "id": f"chatcmpl-fake-{request.call_index}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": request.model,
    }

    def choice(delta: dict[str, Any], finish_reason: str | None) -> dict[str, Any]:
        return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}]}

    if isinstance(reply, ToolCallReply):
        calls = [{"index": i, **call} for i, call in enumerate(reply.wire(request.call_index))]
        yield choice({"role": "assistant", "content": None, "tool_calls": calls}, None)
        yield choice({}, "tool_calls")
    else:
        yield choice({"role": "assistant", "content": ""}, None)
        for start in range(0, len(reply), _STREAM_PIECE_CHARS):
            yield choice({"content": reply[start : start + _STREAM_PIECE_CHARS]}, None)
        yield choice({}, "stop")
    if request.include_usage:
        yield {**base, "choices": [], "usage": _usage(request, reply)}


class FakeOpenAIServer:
    """A local OpenAI-compatible chat-completions server for tests (see the module docstring).

    Args:
        responder: Computes the reply of each (non-faulted) request: its text, or a `ToolCallReply` asking
            the client to call tools. Defaults to always `"ok"`.
        replies: A script of replies (texts or `ToolCallReply`s) served in order instead of a responder;
            the last one repeats.
        latency: Seconds every request waits before it is answered (requests wait concurrently).
        faults: Which calls fail and how: a mapping from `call_index` to a `Fault`, or a callable
            taking the `call_index` and returning a `Fault` or `None`.
        fault_delay: Seconds a `"timeout"` fault holds the connection before closing it.
    """

    MALFORMED_REPLY: ClassVar[str] = "<<fake-openai malformed reply>> {not: json, [unterminated"

    def __init__(
        self,
        responder: Responder | None = None,
        *,
        replies: Sequence[Reply] | None = None,
        latency: float = 0.0,
        faults: FaultPlan | None = None,
        fault_delay: float = 5.0,
    ) -> None:
        if responder is not None and replies is not None:
            raise ValueError("pass either a responder or replies, not both")
        if faults is not None and not callable(faults):
            fault_map = dict(faults)
            _check_faults(fault_map.values())
            faults = fault_map.get
        responder = _Script(replies) if replies is not None else responder or _always_ok
        self._answers = _Answers(responder, latency, faults, fault_delay)
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    @classmethod
    def scripted(cls, replies: Sequence[Reply], **options: Any) -> Self:
        """A server answering with `replies` in order; `options` are the other constructor arguments."""
        return cls(replies=replies, **options)

    @property
    def base_url(self) -> str:
        """The OpenAI base URL to give clients, for example `http://127.0.0.1:PORT/v1`."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def port(self) -> int:
        """The TCP port the server listens on."""
        if self._httpd is None:
            raise RuntimeError("FakeOpenAIServer is not running; call start() or use it as a context manager")
        return self._httpd.server_port

    @property
    def embedding_requests(self) -> list[list[str]]:
        """A snapshot of the texts of every `/v1/embeddings` request so far, one list per request."""
        with self._answers.lock:
            return [list(texts) for texts in self._answers.embeddings]

    @property
    def requests(self) -> list[ChatRequest]:
        """A snapshot of every chat request received so far, in `call_index` order."""
        return self._answers.received()

    @property
    def peak_concurrency(self) -> int:
        """The most chat requests the server has held at once (each is held for `latency`): 1 if they came serially."""
        with self._answers.lock:
            return self._answers.peak

    def prompt_chars(self, call_index: int) -> int:
        """Number of characters in the message contents of request `call_index`."""
        return self.requests[call_index].prompt_chars

    def start(self) -> Self:
        """Bind a free loopback port and serve in a background thread. Returns the server itself."""
        if self._httpd is not None:
            raise RuntimeError("FakeOpenAIServer is already running")
        self._answers.stopping.clear()
        httpd = _HTTPServer(self._answers)
        thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": _POLL_INTERVAL},
            name=f"fake-openai-{httpd.server_port}",
            daemon=True,
        )
        thread.start()
        self._httpd, self._thread = httpd, thread
        return self

    def stop(self) -> None:
        """Stop serving, release pending requests, close every socket and join every thread."""
        httpd, thread = self._httpd, self._thread
        if httpd is None or thread is None:
            return
        self._answers.stopping.set()
        httpd.shutdown()
        httpd.close_connections()
        httpd.server_close()
        thread.join()
        self._httpd = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


class _Answers:
    """What the fake server knows and decides, shared by its handler threads: the requests, replies and faults."""

    def __init__(
        self,
        responder: Responder,
        latency: float,
        faults: Callable[[int], Fault | None] | None,
        fault_delay: float,
    ) -> None:
        self.responder = responder
        self.latency = latency
        self.faults = faults
        self.fault_delay = fault_delay
        self.lock = threading.Lock()
        self.requests: list[ChatRequest] = []
        self.embeddings: list[list[str]] = []
        self.stopping = threading.Event()
        self.in_flight = 0
        self.peak = 0

    def received(self) -> list[ChatRequest]:
        """A snapshot of the requests so far."""
        with self.lock:
            return list(self.requests)

    def record(self, body: dict[str, Any]) -> ChatRequest:
        messages = body.get("messages")
        with self.lock:
            request = ChatRequest(
                call_index=len(self.requests),
                model=str(body.get("model", "")),
                messages=cast(list[dict[str, Any]], messages) if isinstance(messages, list) else [],
                body=body,
            )
            self.requests.append(request)
        return request

    def fault_for(self, call_index: int) -> Fault | None:
        if self.faults is None:
            return None
        fault = self.faults(call_index)
        if fault is not None:
            _check_faults([fault])
        return fault

    def wait(self, seconds: float) -> None:
        """Sleep `seconds`, returning early when the server stops."""
        if seconds > 0:
            self.stopping.wait(seconds)


def _check_faults(faults: Iterable[object]) -> None:
    for fault in faults:
        if fault not in _FAULTS:
            raise ValueError(f"unknown fault {fault!r}; expected one of {sorted(_FAULTS)}")


class _HTTPServer(ThreadingHTTPServer):
    """A threading HTTP server that joins its request threads and can drop idle keep-alive connections."""

    daemon_threads = False
    block_on_close = True
    request_queue_size = 128

    def __init__(self, answers: _Answers) -> None:
        self.answers = answers
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    def server_bind(self) -> None:
        """Bind without `HTTPServer`'s reverse DNS lookup of the host name."""
        socketserver.TCPServer.server_bind(self)
        self.server_name = "127.0.0.1"
        self.server_port = int(self.server_address[1])

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Ignore clients that went away (timeouts, resets); report anything else."""
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)

    def track(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.add(connection)
            if self.answers.stopping.is_set():
                _hang_up(connection)

    def untrack(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.discard(connection)

    def close_connections(self) -> None:
        """Hang up every open connection so that handler threads blocked on a read return."""
        with self._connections_lock:
            for connection in self._connections:
                _hang_up(connection)


def _hang_up(connection: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed by the peer
        connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: with Nagle's algorithm on, the body waits for the client's
    # delayed ACK of the headers (about 40 ms on Linux) on every reused keep-alive connection.
    disable_nagle_algorithm = True
    server_version = "FakeOpenAI/1.0"
    timeout = _HANDLER_IDLE_TIMEOUT

    @property
    def httpd(self) -> _HTTPServer:
        return cast(_HTTPServer, self.server)

    def setup(self) -> None:
        super().setup()
        self.httpd.track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.httpd.untrack(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""

    def do_GET(self) -> None:
        if self.path.split("?", 1)[0].rstrip("/") in {"/v1/models", "/models"}:
            self.send_json(200, {"object": "list", "data": [_MODEL]})
        else:
            self.send_json(404, _error_body(404))

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path = self.path.split("?", 1)[0].rstrip("/")
        if path not in {"/v1/chat/completions", "/chat/completions", "/v1/embeddings", "/embeddings"}:
            self.send_json(404, _error_body(404))
            return
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            self.send_json(400, _error_body(400))
        elif path.endswith("/embeddings"):
            self.serve_embeddings(cast(dict[str, Any], body))
        else:
            self.serve_chat(self.httpd.answers.record(cast(dict[str, Any], body)))

    def serve_embeddings(self, body: dict[str, Any]) -> None:
        answers = self.httpd.answers
        answers.wait(answers.latency)
        answer = embedding_response(body)
        if answer is None:
            self.send_json(400, _error_body(400))
            return
        texts, response = answer
        with answers.lock:
            answers.embeddings.append(texts)
        self.send_json(200, response)

    def serve_chat(self, request: ChatRequest) -> None:
        answers = self.httpd.answers
        with answers.lock:
            answers.in_flight += 1
            answers.peak = max(answers.peak, answers.in_flight)
        try:
            answers.wait(answers.latency)
        finally:
            with answers.lock:
                answers.in_flight -= 1
        try:
            fault = answers.fault_for(request.call_index)
            reply = _faulty_reply(fault) if fault is not None else answers.responder(request)
        except Exception as error:  # noqa: BLE001 - a broken responder becomes a 500 the test can read
            message = f"fake responder raised {error!r}"
            self.send_json(500, {"error": {"message": message, "type": "server_error", "code": None}})
            return
        if fault in {"http_429", "http_500"}:
            status = 429 if fault == "http_429" else 500
            self.send_json(status, _error_body(status), {"Retry-After": "0"} if status == 429 else {})
        elif fault == "timeout":
            answers.wait(answers.fault_delay)
            self.close_connection = True
        elif request.stream:
            self.send_events(_chunks(request, reply))
        else:
            self.send_json(200, _completion(request, reply))

    def send_json(self, status: int, payload: object, headers: Mapping[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def send_events(self, events: Iterator[dict[str, Any]]) -> None:
        """Write server-sent events, then `data: [DONE]`, and close the connection to end the body."""
        self.close_connection = True
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        for event in events:
            self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
            self.wfile.flush()
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()


def _faulty_reply(fault: Fault) -> Reply:
    """The reply text of a faulted call (only `"malformed"` and `"empty"` produce a completion)."""
    return FakeOpenAIServer.MALFORMED_REPLY if fault == "malformed" else ""
