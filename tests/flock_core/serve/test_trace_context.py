"""Trace context over HTTP: a caller's `traceparent` is continued by a SERVER span, seen by a real OTLP receiver."""

from __future__ import annotations

from collections.abc import Iterator

import anyio
import httpx
import pytest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from flock_core import Flock
from flock_core.serve import start_server
from flock_core.testing import FunctionEngine
from flock_core.tracing import configure

from ..test_tracing_configure import OTLPHTTPReceiver, attributes
from .conftest import Answer, Question, answer

pytestmark = pytest.mark.anyio

CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"
RUN_TRACE = "0af7651916cd43dd8448eb211c80319c"


@pytest.fixture
def receiver() -> Iterator[OTLPHTTPReceiver]:
    with OTLPHTTPReceiver() as started:
        yield started


def traceparent(trace_id: str, span_id: str = CALLER_SPAN) -> dict[str, str]:
    return {"traceparent": f"00-{trace_id}-{span_id}-01"}


async def test_a_callers_trace_continues_through_the_server(receiver: OTLPHTTPReceiver) -> None:
    provider = configure(otlp=receiver.url, service_name="serve-test", set_global=False)
    flock = Flock(engine=FunctionEngine(answer), tracer_provider=provider)
    flock.register_type(Question)
    flock.register_type(Answer)
    flock.agent("answerer").consumes(Question).publishes(Answer)
    answered = anyio.Event()
    flock.add_listener(lambda artifact: answered.set() if artifact.type == "Answer" else None)
    async with (
        await start_server(flock, port=0, dashboard=False) as handle,
        httpx.AsyncClient(base_url=handle.url) as http,
    ):
        body = {"type": "Question", "payload": {"text": "traced?"}}
        published = await http.post("/api/v1/artifacts", json=body, headers=traceparent(CALLER_TRACE))
        assert published.status_code == 201
        assert published.json()["trace_context"]["traceparent"].split("-")[1] == CALLER_TRACE
        with anyio.fail_after(10):
            await answered.wait()
        run = await http.post("/api/v1/agents/answerer/run", json=body, headers=traceparent(RUN_TRACE))
        assert run.status_code == 200
        assert (await http.get("/health")).status_code == 200  # no traceparent: a trace of its own
    provider.shutdown()

    spans = [span for _, _, span in receiver.spans()]
    by_name: dict[str, list[Span]] = {}
    for span in spans:
        by_name.setdefault(span.name, []).append(span)
    [server] = by_name["POST /api/v1/artifacts"]
    assert (server.trace_id.hex(), server.parent_span_id.hex(), server.kind) == (
        CALLER_TRACE,
        CALLER_SPAN,
        Span.SPAN_KIND_SERVER,
    )
    assert attributes(server.attributes) == {
        "http.request.method": "POST",
        "url.path": "/api/v1/artifacts",
        "http.route": "/api/v1/artifacts",
        "server.address": "127.0.0.1",
        "http.response.status_code": 201,
        "openinference.span.kind": "CHAIN",  # not UNKNOWN in Phoenix
    }
    [workflow] = by_name["invoke_workflow Question"]  # the workflow the publish started, inside the request
    assert (workflow.trace_id.hex(), workflow.parent_span_id) == (CALLER_TRACE, server.span_id)
    [publish] = [s for s in spans if s.kind == Span.SPAN_KIND_PRODUCER]
    assert (publish.trace_id.hex(), publish.parent_span_id) == (CALLER_TRACE, workflow.span_id)
    queued, direct = sorted(by_name["invoke_agent answerer"], key=lambda s: s.trace_id.hex() != CALLER_TRACE)
    assert queued.trace_id.hex() == CALLER_TRACE  # the agent that the publish triggered joins the caller's trace

    [run_server] = by_name["POST /api/v1/agents/{name}/run"]
    assert (run_server.trace_id.hex(), run_server.parent_span_id.hex()) == (RUN_TRACE, CALLER_SPAN)
    assert (direct.trace_id.hex(), direct.parent_span_id) == (RUN_TRACE, run_server.span_id)  # direct runs are traced

    [health] = by_name["GET /health"]
    assert health.parent_span_id == b""
    assert health.trace_id.hex() not in (CALLER_TRACE, RUN_TRACE)


async def test_without_tracing_the_callers_context_still_reaches_the_artifact() -> None:
    flock = Flock(engine=FunctionEngine(answer))
    flock.register_type(Question)
    async with (
        await start_server(flock, port=0, dashboard=False) as handle,
        httpx.AsyncClient(base_url=handle.url) as http,
    ):
        body = {"type": "Question", "payload": {"text": "untraced"}}
        published = await http.post("/api/v1/artifacts", json=body, headers=traceparent(CALLER_TRACE))
    assert published.json()["trace_context"] == {"traceparent": f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"}
