"""What `flock trace` and `flock graph` do; `flock_core.cli._main` parses the arguments and prints the result."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Literal, get_args

import anyio

from ..blackboard._store import BlackboardStore
from ..exceptions import ConfigurationError
from ._lineage import DeclaredGraph, LineageGraph, declared_graph, lineage_graph
from ._report import render_spans, render_stats, render_traces, to_json
from ._traces import TraceFile

if TYPE_CHECKING:
    from .._flock import Flock

__all__ = ["GRAPH_FORMATS", "GraphFormat", "TraceAction", "format_for", "graph_text", "trace_text"]

TraceAction = Literal["list", "show", "summary"]
GraphFormat = Literal["mermaid", "dot", "html"]
GRAPH_FORMATS: tuple[GraphFormat, ...] = get_args(GraphFormat)
_SUFFIXES: dict[str, GraphFormat] = {
    ".html": "html",
    ".htm": "html",
    ".dot": "dot",
    ".gv": "dot",
    ".mmd": "mermaid",
    ".mermaid": "mermaid",
}


def trace_text(
    action: TraceAction, path: str, *, trace_id: str | None = None, limit: int | None = 20, as_json: bool = False
) -> str:
    """The output of `flock trace list|show|summary`.

    Raises:
        SystemExit: the file is missing or not a trace file, or the trace id is unknown or ambiguous.
    """
    try:
        with TraceFile(path) as traces:
            if action == "list":
                found = traces.traces(limit=limit)
                return to_json(found) if as_json else render_traces(found)
            if action == "show":
                spans = traces.spans(trace_id or "")
                return to_json({"trace_id": spans[0].trace_id, "spans": spans}) if as_json else render_spans(spans)
            stats = traces.stats(trace_id)
            return to_json(stats) if as_json else render_stats(stats)
    except (FileNotFoundError, ConfigurationError, LookupError) as error:
        raise SystemExit(f"flock trace: {error}") from error


def format_for(chosen: GraphFormat | None, output: str | None) -> GraphFormat:
    """The graph format: as given, else from the output file's suffix, else Mermaid."""
    if chosen is not None:
        return chosen
    suffix = Path(output).suffix.lower() if output else ""
    return _SUFFIXES.get(suffix, "mermaid")


def graph_text(
    load_flock: Callable[[str], Flock],
    *,
    target: str | None,
    store_path: str | None,
    correlation_id: str | None,
    declared: bool,
    fmt: GraphFormat,
) -> str:
    """The output of `flock graph`: a declared graph, or the lineage in a Flock's store or a store file."""
    graph: LineageGraph | DeclaredGraph
    if declared:
        if target is None:
            raise SystemExit("flock graph: --declared needs module:flock")
        graph = declared_graph(load_flock(target))
    else:
        if target is None and store_path is None:
            raise SystemExit("flock graph: give module:flock or --store FILE")
        store = _open_store(store_path) if store_path is not None else load_flock(str(target)).store
        graph = anyio.run(_read_lineage, store, correlation_id, store_path is not None)
        if not graph.nodes:
            scope = f" for correlation {correlation_id}" if correlation_id else ""
            source = store_path or f"the store of {target}"
            raise SystemExit(f"flock graph: no artifacts{scope} in {source} (--declared draws the agents instead)")
    exports = {"mermaid": graph.to_mermaid, "dot": graph.to_dot, "html": graph.to_html}
    return exports[fmt]()


async def _read_lineage(store: BlackboardStore, correlation_id: str | None, close: bool) -> LineageGraph:
    try:
        return await lineage_graph(store, correlation_id)
    finally:
        if close:
            await store.close()


def _open_store(path: str) -> BlackboardStore:
    if not os.path.isfile(path):
        raise SystemExit(f"flock graph: no store file at {path}")
    try:
        from ..blackboard.sqlite._store import SQLiteBlackboardStore  # sqlite3 loads only for --store
    except ImportError as error:
        raise SystemExit(f"flock graph: --store needs the SQLite store, which is not available ({error})") from error
    return SQLiteBlackboardStore(path)
