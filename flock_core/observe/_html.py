"""A self-contained HTML page for a graph: the SVG is drawn here, a small inline script adds interaction.

No network access: no CDN, no fonts, no images (the favicon is an empty data URL). Clicking a node (or opening
the page with `#node-id`) highlights everything upstream and downstream of it and shows its details; Escape
or a click on the background clears.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from html import escape
from typing import TYPE_CHECKING, Final

from ._layout import Box, layout

if TYPE_CHECKING:
    from ._nodes import Drawable, GraphEdge

__all__ = ["page"]

_CHAR_WIDTH: Final = 7.2
_MAX_LABEL: Final = 40
_LOOP: Final = 30.0


def page(nodes: Sequence[Drawable], edges: Sequence[GraphEdge], title: str) -> str:
    """The whole HTML document."""
    labels = {n.id: _short(n.label) for n in nodes}
    widths = {n.id: max(72.0, len(labels[n.id]) * _CHAR_WIDTH + 28) for n in nodes}
    gap = max(64.0, max((len(e.label) for e in edges), default=0) * 6.2 + 28)  # room for edge labels
    drawn = layout([n.id for n in nodes], widths, [(e.source, e.target) for e in edges], layer_gap=gap)
    boxes = drawn.boxes
    drawn_edges = [_edge(e, boxes[e.source], boxes[e.target]) for e in edges]
    svg_edges = "\n".join(svg for svg, _ in drawn_edges)
    bottom = max([drawn.height, *(low + 16 for _, low in drawn_edges)])
    svg_nodes = "\n".join(_node(n, labels[n.id], boxes[n.id]) for n in nodes)
    data = {
        "nodes": [{"id": n.id, "kind": n.kind, "label": n.label, "details": n.details()} for n in nodes],
        "edges": [{"source": e.source, "target": e.target, "label": e.label} for e in edges],
    }
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":")).replace("<", "\\u003c")
    width, height = f"{drawn.width:.0f}", f"{bottom:.0f}"
    return _TEMPLATE.format(
        title=escape(title),
        style=_STYLE,
        script=_SCRIPT,
        data=payload,
        width=width,
        height=height,
        edges=svg_edges,
        nodes=svg_nodes,
        count=f"{len(nodes)} nodes, {len(edges)} edges",
    )


def _short(label: str) -> str:
    return label if len(label) <= _MAX_LABEL else label[: _MAX_LABEL - 1] + "…"


def _node(node: Drawable, label: str, box: Box) -> str:
    classes = f"node kind-{node.kind}" + (" error" if node.error else "")
    tooltip = escape("\n".join(f"{k}: {v}" for k, v in node.details().items()))
    return (
        f'<g class="{classes}" data-id="{escape(node.id)}" tabindex="0" role="button" '
        f'transform="translate({box.x:.1f},{box.y:.1f})"><title>{tooltip}</title>'
        f'<rect width="{box.width:.1f}" height="{box.height:.1f}" rx="{_radius(node.kind)}"/>'
        f'<text x="{box.width / 2:.1f}" y="{box.height / 2:.1f}">{escape(label)}</text></g>'
    )


def _radius(kind: str) -> str:
    return {"artifact": "3", "agent": "8"}.get(kind, "17")


def _edge(edge: GraphEdge, source: Box, target: Box) -> tuple[str, float]:
    """The SVG of one edge, and the lowest y it reaches (back edges dip below the nodes)."""
    label_dy = -5.0
    if edge.source == edge.target:  # a self-loop over the node, its label beside the loop
        x, y = source.x + source.width / 2, source.y
        path, _ = _curve((x + 8, y), (x + 30, y - _LOOP), (x - 30, y - _LOOP), (x - 8, y))
        middle = (x + 44, y - 8)
    elif target.layer > source.layer:
        start = (source.x + source.width, source.y + source.height / 2)
        end = (target.x, target.y + target.height / 2)
        bend = max(24.0, (end[0] - start[0]) / 2)
        path, middle = _curve(start, (start[0] + bend, start[1]), (end[0] - bend, end[1]), end)
    else:  # a back edge (a feedback loop): leave from the bottom, come back under the nodes, label below
        start = (source.x + source.width / 2, source.y + source.height)
        end = (target.x + target.width / 2, target.y + target.height)
        low = max(start[1], end[1]) + _LOOP * 1.6
        path, middle = _curve(start, (start[0], low), (end[0], low), end)
        label_dy = 13.0
    text = ""
    if edge.label:
        y = middle[1] + label_dy
        text = f'<text class="edge-label" x="{middle[0]:.1f}" y="{y:.1f}">{escape(edge.label)}</text>'
    svg = (
        f'<g class="edge" data-source="{escape(edge.source)}" data-target="{escape(edge.target)}">'
        f'<path d="{path}" marker-end="url(#arrow)"/>{text}</g>'
    )
    return svg, middle[1] + max(label_dy, 0) + 8


def _curve(
    p0: tuple[float, float], p1: tuple[float, float], p2: tuple[float, float], p3: tuple[float, float]
) -> tuple[str, tuple[float, float]]:
    """A cubic Bézier path and its point at t = 0.5 (where the label goes)."""
    path = f"M{p0[0]:.1f},{p0[1]:.1f} C{p1[0]:.1f},{p1[1]:.1f} {p2[0]:.1f},{p2[1]:.1f} {p3[0]:.1f},{p3[1]:.1f}"
    middle = ((p0[0] + 3 * p1[0] + 3 * p2[0] + p3[0]) / 8, (p0[1] + 3 * p1[1] + 3 * p2[1] + p3[1]) / 8)
    return path, middle


_STYLE: Final = """
:root { color-scheme: light; font-family: system-ui, -apple-system, "Segoe UI", sans-serif; }
body { margin: 0; display: flex; flex-direction: column; height: 100vh; color: #212529; background: #fff; }
header { padding: 10px 16px; border-bottom: 1px solid #dee2e6; display: flex; gap: 16px; align-items: baseline; }
header h1 { font-size: 16px; margin: 0; }
header .count, header .hint { font-size: 12px; color: #868e96; }
main { flex: 1; display: flex; min-height: 0; }
#flock-canvas { flex: 1; overflow: auto; }
aside { width: 300px; border-left: 1px solid #dee2e6; padding: 12px 16px; font-size: 13px; overflow: auto; }
aside h2 { font-size: 14px; margin: 0 0 8px; }
aside dt { color: #868e96; font-size: 11px; text-transform: uppercase; margin-top: 8px; }
aside dd { margin: 2px 0 0; word-break: break-all; }
svg { display: block; }
.node { cursor: pointer; outline: none; }
.node rect { fill: #fff; stroke: #868e96; stroke-width: 1.2; }
.node text { font-size: 12px; text-anchor: middle; dominant-baseline: central; fill: #212529; }
.kind-activation rect, .kind-agent rect { fill: #dbe7ff; stroke: #3b5bdb; }
.kind-external rect, .kind-results rect { fill: #f1f3f5; }
.node.error rect { fill: #ffe3e3; stroke: #c92a2a; }
.node.selected rect, .node:focus-visible rect { stroke-width: 2.5; }
.edge path { fill: none; stroke: #868e96; stroke-width: 1.2; }
.edge-label { font-size: 10px; text-anchor: middle; fill: #495057; paint-order: stroke; stroke: #fff;
  stroke-width: 3px; }
.dim { opacity: 0.18; }
"""

_SCRIPT: Final = """
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("flock-graph-data").textContent);
  var svg = document.getElementById("flock-graph");
  var panel = document.getElementById("flock-details");
  var byId = new Map(data.nodes.map(function (n) { return [n.id, n]; }));
  var forward = new Map(), backward = new Map();
  function link(map, from, to) { if (!map.has(from)) { map.set(from, []); } map.get(from).push(to); }
  data.edges.forEach(function (e) { link(forward, e.source, e.target); link(backward, e.target, e.source); });
  function reach(start, map, seen) {
    var todo = [start];
    while (todo.length) {
      (map.get(todo.pop()) || []).forEach(function (next) {
        if (!seen.has(next)) { seen.add(next); todo.push(next); }
      });
    }
    return seen;
  }
  function element(tag, text) { var el = document.createElement(tag); el.textContent = text; return el; }
  function show(node) {
    panel.replaceChildren();
    if (!node) { panel.appendChild(element("p", "Select a node to see its details and its lineage.")); return; }
    panel.appendChild(element("h2", node.label + " (" + node.kind + ")"));
    var list = document.createElement("dl");
    Object.keys(node.details).forEach(function (key) {
      list.appendChild(element("dt", key));
      list.appendChild(element("dd", node.details[key]));
    });
    panel.appendChild(list);
  }
  function select(id) {
    var keep = reach(id, backward, reach(id, forward, new Set([id])));
    svg.querySelectorAll(".node").forEach(function (el) {
      el.classList.toggle("dim", !keep.has(el.dataset.id));
      el.classList.toggle("selected", el.dataset.id === id);
    });
    svg.querySelectorAll(".edge").forEach(function (el) {
      el.classList.toggle("dim", !(keep.has(el.dataset.source) && keep.has(el.dataset.target)));
    });
    show(byId.get(id));
  }
  function clear() {
    svg.querySelectorAll(".dim, .selected").forEach(function (el) { el.classList.remove("dim", "selected"); });
    show(null);
  }
  svg.addEventListener("click", function (event) {
    var node = event.target.closest(".node");
    if (node) { select(node.dataset.id); } else { clear(); }
  });
  svg.addEventListener("keydown", function (event) {
    var node = event.target.closest(".node");
    if (node && (event.key === "Enter" || event.key === " ")) { event.preventDefault(); select(node.dataset.id); }
  });
  document.addEventListener("keydown", function (event) { if (event.key === "Escape") { clear(); } });
  var linked = decodeURIComponent(window.location.hash.slice(1));
  if (byId.has(linked)) { select(linked); } else { show(null); }
  var ready = document.createElement("div");
  ready.id = "flock-graph-ready";
  ready.hidden = true;
  ready.dataset.nodes = String(svg.querySelectorAll(".node").length);
  ready.dataset.edges = String(svg.querySelectorAll(".edge").length);
  document.body.appendChild(ready);
})();
"""

_TEMPLATE: Final = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>{title}</title>
<style>{style}</style>
</head>
<body>
<header><h1>{title}</h1><span class="count">{count}</span>
<span class="hint">click a node to trace its lineage · Esc to clear</span></header>
<main>
<div id="flock-canvas">
<svg id="flock-graph" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" \
viewBox="0 0 {width} {height}" role="img" aria-label="{title}">
<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" \
orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#868e96"/></marker></defs>
<g class="edges">
{edges}
</g>
<g class="nodes">
{nodes}
</g>
</svg>
</div>
<aside id="flock-details" aria-live="polite"></aside>
</main>
<script type="application/json" id="flock-graph-data">{data}</script>
<script>{script}</script>
</body>
</html>
"""
