"""`flock_core.tracing.configure()`: console, trace file and real OTLP receivers (HTTP and gRPC) on loopback.

No test sets the global tracer provider in this process: they pass `set_global=False` and give the provider
to `Flock(tracer_provider=...)`; what `set_global=True` does is checked in a fresh interpreter.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from opentelemetry.sdk.trace import TracerProvider
from pydantic import BaseModel

from flock_core import EvaluationRequest, EvaluationResult, Flock, Usage
from flock_core.exceptions import ConfigurationError
from flock_core.observe._setup import resolve_protocol
from flock_core.testing import FunctionEngine
from flock_core.tracing import TraceFile, configure, configure_from_env, shutdown

ROOT = Path(__file__).resolve().parents[2]


class Topic(BaseModel):
    name: str


class Idea(BaseModel):
    text: str


class Summary(BaseModel):
    text: str


def engine(request: EvaluationRequest) -> EvaluationResult:
    if request.agent.name == "brainstorm":
        return EvaluationResult([Idea(text=f"idea {i}") for i in range(3)], Usage(10, 5, 1))
    return EvaluationResult([Summary(text="all of them")], Usage(7, 3, 1))


def run_pipeline(provider: TracerProvider) -> None:
    """Topic -> brainstorm (3 Ideas) -> summarise (a gate on 3 Ideas), traced with `provider`."""
    flock = Flock(engine=FunctionEngine(engine), tracer_provider=provider)
    for model in (Topic, Idea, Summary):
        flock.register_type(model)
    flock.agent("brainstorm").consumes(Topic).publishes(Idea, fan_out=3)
    flock.agent("summarise").consumes(Idea, Idea, Idea).publishes(Summary)
    flock.run(Topic(name="bees"))


@pytest.fixture(autouse=True)
def _no_otel_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The OTEL_* and FLOCK_TRACE_* variables of the machine must not leak into these tests."""
    for name in list(os.environ):
        if name.startswith(("OTEL_", "FLOCK_TRACE_")):
            monkeypatch.delenv(name)


# -- the OTLP receivers ------------------------------------------------------------------------------


def attributes(items: Any) -> dict[str, object]:
    """OTLP key-values as plain Python values."""
    return {kv.key: _value(kv.value) for kv in items if isinstance(kv, KeyValue)}


def _value(value: AnyValue) -> object:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return tuple(_value(v) for v in value.array_value.values)
    return getattr(value, str(kind))


class Received:
    """Requests a receiver got: the HTTP path and headers (HTTP only) and the decoded export request."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], trace_service_pb2.ExportTraceServiceRequest]] = []
        self.lock = threading.Lock()

    def add(self, path: str, headers: dict[str, str], body: trace_service_pb2.ExportTraceServiceRequest) -> None:
        with self.lock:
            self.requests.append((path, headers, body))

    def spans(self) -> list[tuple[dict[str, object], str, Span]]:
        """Every span received, with its resource attributes and instrumentation scope name."""
        return [
            (attributes(resource.resource.attributes), scope.scope.name, span)
            for _, _, body in self.requests
            for resource in body.resource_spans
            for scope in resource.scope_spans
            for span in scope.spans
        ]


class OTLPHTTPReceiver(Received):
    """A minimal OTLP/HTTP receiver on 127.0.0.1: POST /v1/traces with a protobuf body."""

    def __init__(self) -> None:
        super().__init__()
        received = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                request = trace_service_pb2.ExportTraceServiceRequest.FromString(body)
                received.add(self.path, {k.lower(): v for k, v in self.headers.items()}, request)
                reply = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: object) -> None:
                del format, args

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


class _TraceService(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, received: Received) -> None:
        self.received = received

    def Export(
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: object
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        del context
        self.received.add("TraceService/Export", {}, request)
        return trace_service_pb2.ExportTraceServiceResponse()


@pytest.fixture
def http_receiver() -> Iterator[OTLPHTTPReceiver]:
    with OTLPHTTPReceiver() as receiver:
        yield receiver


@pytest.fixture
def grpc_receiver() -> Iterator[tuple[str, Received]]:
    received = Received()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(_TraceService(received), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"http://127.0.0.1:{port}", received
    server.stop(grace=None).wait(timeout=5)


# -- OTLP --------------------------------------------------------------------------------------------


def test_spans_reach_a_real_otlp_http_receiver(
    http_receiver: OTLPHTTPReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "x-team=flock")
    provider = configure(otlp=http_receiver.url, service_name="otlp-test", set_global=False)
    run_pipeline(provider)
    shutdown(provider)

    assert {(path, headers["content-type"], headers["x-team"]) for path, headers, _ in http_receiver.requests} == {
        ("/v1/traces", "application/x-protobuf", "flock")
    }
    spans = {span.name: (resource, scope, span) for resource, scope, span in http_receiver.spans()}
    assert sorted(spans) == [
        "invoke_agent brainstorm",
        "invoke_agent summarise",
        "invoke_workflow Topic",
        "publish Topic",
    ]
    resource, scope, publish = spans["publish Topic"]
    workflow = spans["invoke_workflow Topic"][2]
    assert (resource["service.name"], scope, publish.kind) == ("otlp-test", "flock_core", Span.SPAN_KIND_PRODUCER)
    brainstorm = spans["invoke_agent brainstorm"][2]
    summarise = spans["invoke_agent summarise"][2]
    assert brainstorm.parent_span_id == summarise.parent_span_id == publish.parent_span_id == workflow.span_id
    assert brainstorm.trace_id == summarise.trace_id == publish.trace_id == workflow.trace_id
    attrs = attributes(brainstorm.attributes)
    assert {k: attrs[k] for k in attrs if k.startswith("gen_ai.")} == {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": "brainstorm",
        "gen_ai.conversation.id": attributes(publish.attributes)["gen_ai.conversation.id"],
        "gen_ai.usage.input_tokens": 10,
        "gen_ai.usage.output_tokens": 5,
    }
    assert attrs["flock.output.types"] == ("Idea", "Idea", "Idea")
    assert [link.span_id for link in summarise.links] == [brainstorm.span_id] * 3


def test_the_standard_endpoint_variable_is_honoured(
    http_receiver: OTLPHTTPReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", http_receiver.url)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    provider = configure(otlp=True, set_global=False)
    run_pipeline(provider)
    shutdown(provider)
    assert {path for path, _, _ in http_receiver.requests} == {"/v1/traces"}
    assert len(http_receiver.spans()) == 4


def test_spans_reach_a_real_otlp_grpc_receiver(grpc_receiver: tuple[str, Received]) -> None:
    url, received = grpc_receiver
    provider = configure(otlp=url, protocol="grpc", set_global=False)
    run_pipeline(provider)
    shutdown(provider)
    names = sorted(span.name for _, _, span in received.spans())
    assert names == ["invoke_agent brainstorm", "invoke_agent summarise", "invoke_workflow Topic", "publish Topic"]
    assert {resource["service.name"] for resource, _, _ in received.spans()} == {"flockboard"}


def test_a_missing_otlp_extra_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry.exporter.otlp.proto.http.trace_exporter", None)
    with pytest.raises(ConfigurationError, match=r"needs the otlp extra: pip install 'flockboard\[otlp\]'"):
        configure(otlp=True, set_global=False)


@pytest.mark.parametrize(
    ("argument", "environment", "expected"),
    [
        (None, {}, "http/protobuf"),
        ("grpc", {"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}, "grpc"),
        (None, {"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "grpc"),
        (
            None,
            {"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf"},
            "http/protobuf",
        ),
    ],
)
def test_the_protocol_comes_from_the_argument_then_the_standard_variables(
    monkeypatch: pytest.MonkeyPatch, argument: str | None, environment: dict[str, str], expected: str
) -> None:
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert resolve_protocol(argument) == expected


def test_unsupported_protocols_and_endpoints_are_configuration_errors() -> None:
    with pytest.raises(ConfigurationError, match=r"unsupported OTLP protocol 'http/json'.*do not implement http/json"):
        resolve_protocol("http/json")
    for endpoint in ("localhost:4318", "127.0.0.1:4318", "http://"):
        with pytest.raises(ConfigurationError, match="must be a URL such as http://localhost:4318"):
            configure(otlp=endpoint, set_global=False)


# -- console, file, environment ----------------------------------------------------------------------


def test_console_prints_one_line_per_span_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    provider = configure(console=True, set_global=False)
    run_pipeline(provider)
    shutdown(provider)
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert [line.split("  ")[2] for line in lines] == [  # in the order they end
        "publish Topic",
        "invoke_agent brainstorm",
        "invoke_agent summarise",
        "invoke_workflow Topic",
    ]
    assert all(line.startswith("[flock] ") and " ms" in line for line in lines)
    assert lines[1].endswith("tokens 10/5")
    assert len({line.split("  ")[1] for line in lines}) == 1  # one trace


def test_the_trace_file_is_queryable_after_shutdown(tmp_path: Path) -> None:
    path = tmp_path / "traces.db"
    provider = configure(file=path, set_global=False)
    run_pipeline(provider)
    shutdown()  # every provider configure() made: flushes the batch processor
    with TraceFile(path) as traces:
        [run] = traces.traces()
        stats = traces.stats()
    assert (run.root, run.span_count, run.agents, run.total_tokens) == (
        "invoke_workflow Topic",
        4,
        ("brainstorm", "summarise"),
        25,
    )
    assert [(s.name, s.count) for s in stats] == [("brainstorm", 1), ("summarise", 1)]
    shutdown()  # nothing left to shut down


def test_a_trace_file_that_cannot_be_used_fails_at_configure_time(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"cannot open the trace file .*missing.*: unable to open database"):
        configure(file=tmp_path / "missing" / "traces.db", set_global=False)
    (tmp_path / "notes.txt").write_text("not a database " * 100)
    with pytest.raises(ConfigurationError, match=r"cannot open the trace file .*notes.txt: file is not a database"):
        configure(file=tmp_path / "notes.txt", set_global=False)


def test_configure_from_env_reads_the_flock_variables(tmp_path: Path, http_receiver: OTLPHTTPReceiver) -> None:
    assert configure_from_env({}) is None
    assert configure_from_env({"FLOCK_TRACE_OTLP": "0", "FLOCK_TRACE_CONSOLE": "no"}) is None
    path = tmp_path / "traces.db"
    provider = configure_from_env(
        {"FLOCK_TRACE_FILE": str(path), "FLOCK_TRACE_OTLP": http_receiver.url}, set_global=False
    )
    assert provider is not None
    run_pipeline(provider)
    shutdown(provider)
    assert len(http_receiver.spans()) == 4
    with TraceFile(path) as traces:
        assert traces.traces()[0].span_count == 4
    with pytest.raises(ConfigurationError, match="FLOCK_TRACE_CONSOLE='maybe': expected 1, true"):
        configure_from_env({"FLOCK_TRACE_CONSOLE": "maybe"}, set_global=False)


# -- global provider and import side effects, in fresh interpreters -----------------------------------


def run_python(code: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, **(env or {})},
    )


def test_importing_the_tracing_module_configures_nothing() -> None:
    done = run_python(
        """
        import json, logging, sys, warnings
        warnings.simplefilter("error")
        import flock_core.tracing
        import opentelemetry.trace as trace
        reading = "flock_core.observe._commands"
        print(json.dumps({
            "tracer_provider_set": trace._TRACER_PROVIDER is not None,
            "handlers": [n for n, lg in logging.Logger.manager.loggerDict.items()
                         if n.startswith("flock_core") and isinstance(lg, logging.Logger) and lg.handlers],
        }))
        """
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert json.loads(done.stdout) == {"tracer_provider_set": False, "handlers": []}


def test_the_cli_and_graph_code_do_not_load_the_sdk() -> None:
    done = run_python(
        """
        import sys
        import flock_core.cli._main, flock_core.observe._commands
        print(sorted(m for m in sys.modules if m.startswith("opentelemetry.sdk")))
        """
    )
    assert (done.returncode, done.stdout.strip(), done.stderr) == (0, "[]", "")


def test_configure_sets_the_global_provider_once() -> None:
    done = run_python(
        """
        from opentelemetry import trace
        from pydantic import BaseModel
        from flock_core import Flock
        from flock_core.exceptions import ConfigurationError
        from flock_core.testing import FunctionEngine
        from flock_core.tracing import configure, shutdown

        class Question(BaseModel):
            text: str

        class Answer(BaseModel):
            text: str

        provider = configure(console=True)
        assert trace.get_tracer_provider() is provider
        flock = Flock(engine=FunctionEngine(lambda r: [Answer(text="42")]))  # no tracer_provider: the global one
        flock.register_type(Question)
        flock.register_type(Answer)
        flock.agent("answerer").consumes(Question).publishes(Answer)
        flock.run(Question(text="why?"))
        try:
            configure()
        except ConfigurationError as error:
            print(error)
        shutdown()
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == (
        "a global OpenTelemetry tracer provider is already set; call configure(set_global=False) and pass the "
        "provider to Flock(tracer_provider=...)\n"
    )
    assert [line.split("  ")[2] for line in done.stderr.splitlines()] == [
        "publish Question",
        "invoke_agent answerer",
        "invoke_workflow Question",
    ]


def test_a_global_provider_set_after_the_flock_is_created_traces_its_next_publish() -> None:
    done = run_python(
        """
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        from pydantic import BaseModel
        from flock_core import Flock

        class Question(BaseModel):
            text: str

        flock = Flock()
        flock.register_type(Question)
        untraced = flock.run(Question(text="before"))
        assert not flock.tracer.enabled
        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
        assert flock.tracer.enabled
        flock.run(Question(text="after"))
        print(sorted(span.name for span in exporter.get_finished_spans()))
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['invoke_workflow Question', 'publish Question']"


@pytest.mark.parametrize(("named", "enabled"), [("sdk_tracer_provider", True), ("default_tracer_provider", False)])
def test_a_provider_named_in_the_environment_is_loaded_when_the_flock_is_created(named: str, enabled: bool) -> None:
    done = run_python(
        """
        from opentelemetry import trace
        from flock_core import Flock

        print(Flock().tracer.enabled, type(trace.get_tracer_provider()).__name__)
        """,
        env={"OTEL_PYTHON_TRACER_PROVIDER": named},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(enabled), "TracerProvider" if enabled else "NoOpTracerProvider"]


def test_open_telemetry_keeps_its_global_provider_where_the_tracer_reads_it() -> None:
    # `FlockTracer.enabled` reads this module global (the public getter is slow while none is set) and
    # falls back to the getter without it: this pins the faster path to the OpenTelemetry we ship with.
    from opentelemetry import trace

    assert hasattr(trace, "_TRACER_PROVIDER")
