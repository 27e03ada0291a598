"""The HTML graph's layout: layers left to right, no overlaps, cycles and components handled, deterministic."""

from __future__ import annotations

import itertools
import time

from flock_core.observe._layout import LAYER_GAP, NODE_HEIGHT, Box, layout


def overlaps(a: Box, b: Box) -> bool:
    return a.x < b.x + b.width and b.x < a.x + a.width and a.y < b.y + b.height and b.y < a.y + a.height


def test_edges_point_right_and_nodes_never_overlap() -> None:
    nodes = ["topic", "brainstorm", "idea1", "idea2", "idea3", "summarise", "summary"]
    edges = [("topic", "brainstorm")]
    edges += [("brainstorm", f"idea{i}") for i in (1, 2, 3)] + [(f"idea{i}", "summarise") for i in (1, 2, 3)]
    edges += [("summarise", "summary")]
    widths = {n: 20.0 + 5 * len(n) for n in nodes}
    drawn = layout(nodes, widths, edges)
    boxes = drawn.boxes
    assert [boxes[n].layer for n in nodes] == [0, 1, 2, 2, 2, 3, 4]
    assert all(boxes[s].x + boxes[s].width < boxes[t].x for s, t in edges)
    assert not any(overlaps(boxes[a], boxes[b]) for a in nodes for b in nodes if a < b)
    assert all(boxes[n].width == widths[n] and boxes[n].height == NODE_HEIGHT for n in nodes)
    assert all(
        b.x > 0 and b.x + b.width < drawn.width and b.y > 0 and b.y + b.height < drawn.height for b in boxes.values()
    )
    # the fan-out is centred on its producer
    assert boxes["idea2"].y == boxes["brainstorm"].y == boxes["summarise"].y
    assert layout(nodes, widths, edges) == drawn


def test_cycles_and_self_loops_are_laid_out_by_dropping_the_closing_edge() -> None:
    nodes = ["writer", "critic", "editor"]
    edges = [("writer", "critic"), ("critic", "writer"), ("critic", "critic"), ("critic", "editor")]
    boxes = layout(nodes, dict.fromkeys(nodes, 80.0), edges).boxes
    assert [boxes[n].layer for n in nodes] == [0, 1, 2]


def test_components_are_stacked_top_to_bottom() -> None:
    nodes = ["a", "b", "c", "d", "lonely"]
    boxes = layout(nodes, dict.fromkeys(nodes, 80.0), [("a", "b"), ("c", "d")]).boxes
    assert boxes["a"].y + NODE_HEIGHT < boxes["c"].y
    assert boxes["c"].y + NODE_HEIGHT < boxes["lonely"].y
    assert boxes["a"].x == boxes["c"].x == boxes["lonely"].x


def test_wider_layer_gaps_make_room_for_edge_labels() -> None:
    nodes = ["a", "b"]
    narrow = layout(nodes, dict.fromkeys(nodes, 80.0), [("a", "b")]).boxes
    wide = layout(nodes, dict.fromkeys(nodes, 80.0), [("a", "b")], layer_gap=200).boxes
    assert (narrow["b"].x - narrow["a"].x, wide["b"].x - wide["a"].x) == (80 + LAYER_GAP, 280)


def test_a_long_chain_needs_no_recursion_and_little_time() -> None:
    nodes = [f"n{i}" for i in range(5000)]
    started = time.perf_counter()
    boxes = layout(nodes, dict.fromkeys(nodes, 80.0), list(itertools.pairwise(nodes))).boxes
    assert boxes["n4999"].layer == 4999
    assert time.perf_counter() - started < 5
