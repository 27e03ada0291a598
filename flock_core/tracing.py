"""Observability: turn tracing on, read trace files, draw what ran.

Importing this module configures nothing. `configure()` sets up the OpenTelemetry SDK with the exporters you
ask for (console, OTLP, an SQLite trace file); `TraceFile` reads a trace file (what `flock trace` shows);
`lineage_graph()` and `declared_graph()` build graphs that export to Mermaid, DOT and self-contained HTML
(what `flock graph` prints). Span names and attributes follow the OpenTelemetry GenAI semantic conventions,
version `SEMCONV_VERSION`; message content (prompts, payloads) is never put on a span.

See docs/observability.md for examples.
"""

from ._tracing import SEMCONV_VERSION, Attr
from .observe._exporter import SQLiteSpanExporter
from .observe._lineage import DeclaredGraph, LineageGraph, declared_graph, lineage_graph
from .observe._nodes import ActivationNode, AgentNode, ArtifactNode, BoundaryNode, GraphEdge, NodeKind
from .observe._records import AttributeValue, Operation, SpanEvent, SpanLink, SpanRecord, SpanStats, TraceInfo
from .observe._setup import OTLPProtocol, configure, configure_from_env, shutdown
from .observe._traces import TraceFile

__all__ = [
    "SEMCONV_VERSION",
    "ActivationNode",
    "AgentNode",
    "ArtifactNode",
    "Attr",
    "AttributeValue",
    "BoundaryNode",
    "DeclaredGraph",
    "GraphEdge",
    "LineageGraph",
    "NodeKind",
    "OTLPProtocol",
    "Operation",
    "SQLiteSpanExporter",
    "SpanEvent",
    "SpanLink",
    "SpanRecord",
    "SpanStats",
    "TraceFile",
    "TraceInfo",
    "configure",
    "configure_from_env",
    "declared_graph",
    "lineage_graph",
    "shutdown",
]
