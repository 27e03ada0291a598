"""`configure()`: the OpenTelemetry SDK set up for flock: console, OTLP and trace-file exporters."""

from __future__ import annotations

import os
import sqlite3
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Final, Literal, get_args
from urllib.parse import urlsplit

from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)

from ..exceptions import ConfigurationError
from ._exporter import SQLiteSpanExporter
from ._schema import open_for_writing

__all__ = ["OTLPProtocol", "configure", "configure_from_env", "shutdown"]

OTLPProtocol = Literal["http/protobuf", "grpc"]
"""The OTLP transports the Python exporters implement (`http/json` is not one of them)."""

DEFAULT_SERVICE_NAME: Final = "flockboard"
_TRUE: Final = frozenset({"1", "true", "yes", "on"})
_FALSE: Final = frozenset({"", "0", "false", "no", "off"})
_configured: list[TracerProvider] = []


def configure(
    *,
    console: bool = False,
    otlp: bool | str = False,
    protocol: OTLPProtocol | None = None,
    file: str | os.PathLike[str] | None = None,
    service_name: str | None = None,
    set_global: bool = True,
) -> TracerProvider:
    """Set up OpenTelemetry tracing: a `TracerProvider` with the exporters asked for.

    Nothing is configured until this is called. Spans never contain message content (prompts, payloads).

    Args:
        console: print one line per finished span to standard error.
        otlp: export over OTLP: `True` for the endpoint in the standard `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` /
            `OTEL_EXPORTER_OTLP_ENDPOINT` variables (default `http://localhost:4318`), or an endpoint URL that
            overrides them (a URL without a path, like `http://host:4318`, gets `/v1/traces` for HTTP). Headers,
            timeout, compression and TLS come from the standard `OTEL_EXPORTER_OTLP_*` variables. Needs the
            `otlp` extra: `pip install 'flockboard[otlp]'`.
        protocol: `"http/protobuf"` or `"grpc"`; default: `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`, then
            `OTEL_EXPORTER_OTLP_PROTOCOL`, then `"http/protobuf"`.
        file: also write spans to this SQLite trace file (read it with `flock trace` or `TraceFile`).
        service_name: the `service.name` resource attribute; default: `OTEL_SERVICE_NAME`, else `"flockboard"`.
        set_global: make the provider the global one, so every `Flock` without `tracer_provider=` uses it.
            Pass `False` in libraries and tests, and give the provider to `Flock(tracer_provider=...)`.

    Returns:
        The provider; `shutdown()` (or `provider.shutdown()`, or interpreter exit) flushes pending spans.

    Raises:
        ConfigurationError: the `otlp` extra is missing, the protocol is unknown, the trace file cannot be
            created or is another kind of file, or another global tracer provider is already set.
    """
    if set_global and not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        raise ConfigurationError(
            "a global OpenTelemetry tracer provider is already set; call configure(set_global=False) and pass "
            "the provider to Flock(tracer_provider=...)"
        )
    if file is not None:
        _check_trace_file(file)
    exporters: list[tuple[SpanExporter, bool]] = []
    if console:
        exporters.append((ConsoleSpanExporter(out=sys.stderr, formatter=console_line), False))
    if otlp is not False:
        exporters.append((_otlp_exporter(otlp, protocol), True))
    if file is not None:
        exporters.append((SQLiteSpanExporter(file), True))
    name = service_name or os.environ.get("OTEL_SERVICE_NAME") or DEFAULT_SERVICE_NAME
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: name}))
    for exporter, batched in exporters:
        provider.add_span_processor(BatchSpanProcessor(exporter) if batched else SimpleSpanProcessor(exporter))
    if set_global:
        trace.set_tracer_provider(provider)
    _configured.append(provider)
    return provider


def shutdown(provider: TracerProvider | None = None) -> None:
    """Flush and shut down `provider`, or every provider made by `configure()` that is still running.

    Providers also shut down at interpreter exit; call this to flush earlier (for example before reading
    the trace file in the same script).
    """
    targets = [provider] if provider is not None else list(_configured)
    for target in targets:
        if target in _configured:
            _configured.remove(target)
        target.shutdown()


def configure_from_env(
    environ: Mapping[str, str] | None = None, *, service_name: str | None = None, set_global: bool = True
) -> TracerProvider | None:
    """`configure()` driven by environment variables, for scripts and demos; `None` when none is set.

    - `FLOCK_TRACE_FILE=traces.db`: write spans to a trace file.
    - `FLOCK_TRACE_OTLP=http://localhost:4318` (or `1` for the standard `OTEL_EXPORTER_OTLP_*` settings).
    - `FLOCK_TRACE_CONSOLE=1`: print spans to standard error.

    `service_name` and `set_global` are passed to `configure()`.

    Raises:
        ConfigurationError: a variable has a value that is not understood.
    """
    env = os.environ if environ is None else environ
    file = env.get("FLOCK_TRACE_FILE") or None
    console = _flag(env, "FLOCK_TRACE_CONSOLE")
    raw = env.get("FLOCK_TRACE_OTLP", "").strip()
    otlp: bool | str = True if raw.lower() in _TRUE else False if raw.lower() in _FALSE else raw
    if not (file or console or otlp):
        return None
    return configure(console=console, otlp=otlp, file=file, service_name=service_name, set_global=set_global)


def _check_trace_file(path: str | os.PathLike[str]) -> None:
    """Fail now, not at the first export, if the trace file cannot be created or is another database."""
    try:
        open_for_writing(path).close()
    except sqlite3.Error as error:
        raise ConfigurationError(f"cannot open the trace file {os.fspath(path)}: {error}") from error


def _flag(env: Mapping[str, str], name: str) -> bool:
    value = env.get(name, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigurationError(f"{name}={env[name]!r}: expected 1, true, yes, on or 0, false, no, off")


def console_line(span: ReadableSpan) -> str:
    """One line per span for the console exporter: time, trace id, name, duration, tokens, error."""
    context = span.context
    trace_id = format(context.trace_id, "032x")[:8] if context is not None else "-"
    start, end = span.start_time or 0, span.end_time or 0
    attributes = span.attributes or {}
    parts = [
        datetime.fromtimestamp(start / 1e9, UTC).strftime("%H:%M:%S.%f")[:-3],
        f"trace {trace_id}",
        span.name,
        f"{(end - start) / 1e6:.1f} ms",
    ]
    source, sink = attributes.get("gen_ai.usage.input_tokens"), attributes.get("gen_ai.usage.output_tokens")
    if source is not None or sink is not None:
        parts.append(f"tokens {source or 0}/{sink or 0}")
    if span.status.status_code.name == "ERROR":
        parts.append(f"ERROR {attributes.get('error.type', '')}: {span.status.description or ''}".rstrip(": "))
    return "[flock] " + "  ".join(parts) + "\n"


def resolve_protocol(protocol: str | None) -> OTLPProtocol:
    """The OTLP protocol: the argument, else the standard variables, else `http/protobuf`."""
    chosen = (
        protocol
        or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    ).strip()
    if chosen == "http/protobuf":
        return "http/protobuf"
    if chosen == "grpc":
        return "grpc"
    raise ConfigurationError(
        f"unsupported OTLP protocol {chosen!r}: use one of {', '.join(get_args(OTLPProtocol))}"
        + (" (the Python exporters do not implement http/json)" if chosen == "http/json" else "")
    )


def _otlp_exporter(otlp: bool | str, protocol: str | None) -> SpanExporter:
    chosen = resolve_protocol(protocol)
    endpoint = otlp if isinstance(otlp, str) else None
    if endpoint is not None and (urlsplit(endpoint).scheme not in ("http", "https") or not urlsplit(endpoint).netloc):
        raise ConfigurationError(f"otlp endpoint {endpoint!r} must be a URL such as http://localhost:4318")
    try:
        if chosen == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GRPCExporter

            return GRPCExporter(endpoint=endpoint)
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HTTPExporter
    except ImportError as error:
        raise ConfigurationError(
            f"OTLP export ({chosen}) needs the otlp extra: pip install 'flockboard[otlp]' ({error})"
        ) from error
    if endpoint is not None and urlsplit(endpoint).path in ("", "/"):
        endpoint = endpoint.rstrip("/") + "/v1/traces"
    return HTTPExporter(endpoint=endpoint)
