"""A layered left-to-right layout for the HTML graph: cycles broken, longest-path layers, barycentre order.

Each connected component is laid out on its own and the components are stacked top to bottom. Pure and
deterministic: the same graph always gets the same coordinates.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

__all__ = ["LAYER_GAP", "NODE_HEIGHT", "Box", "Layout", "layout"]

NODE_HEIGHT: Final = 34.0
LAYER_GAP: Final = 64.0
_ROW_GAP: Final = 28.0
_COMPONENT_GAP: Final = 40.0
_MARGIN: Final = 32.0
_SWEEPS: Final = 8


@dataclass(frozen=True, slots=True)
class Box:
    """A node's rectangle (top-left corner, size) and its layer."""

    x: float
    y: float
    width: float
    height: float
    layer: int


@dataclass(frozen=True, slots=True)
class Layout:
    """Node boxes and the drawing's size."""

    boxes: Mapping[str, Box]
    width: float
    height: float


def layout(
    nodes: Sequence[str],
    widths: Mapping[str, float],
    edges: Sequence[tuple[str, str]],
    *,
    layer_gap: float = LAYER_GAP,
) -> Layout:
    """Place `nodes` (ids, in a preferred order) of the given widths, with edges pointing left to right."""
    boxes: dict[str, Box] = {}
    top, right = _MARGIN, _MARGIN
    for component in _components(nodes, edges):
        members = set(component)
        inner = [(s, t) for s, t in edges if s in members and t in members and s != t]
        layers = _order(_layers(component, inner), inner)
        placed, width, height = _place(layers, widths, top, layer_gap)
        boxes.update(placed)
        right = max(right, width)
        top += height + _COMPONENT_GAP
    return Layout(boxes, right + _MARGIN, max(top - _COMPONENT_GAP, _MARGIN) + _MARGIN)


def _components(nodes: Sequence[str], edges: Sequence[tuple[str, str]]) -> list[list[str]]:
    """Weakly connected components, each in the given node order, ordered by their first node."""
    parent = {n: n for n in nodes}

    def find(n: str) -> str:
        while parent[n] != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n

    for source, target in edges:
        if source in parent and target in parent:
            parent[find(source)] = find(target)
    groups: dict[str, list[str]] = {}
    for node in nodes:
        groups.setdefault(find(node), []).append(node)
    return list(groups.values())


def _layers(nodes: Sequence[str], edges: Sequence[tuple[str, str]]) -> list[list[str]]:
    """Longest-path layering of the graph without the edges that close a cycle."""
    acyclic = _acyclic(nodes, edges)
    depth = dict.fromkeys(nodes, 0)
    indegree = dict.fromkeys(nodes, 0)
    for targets in acyclic.values():
        for target in targets:
            indegree[target] += 1
    ready = deque(n for n in nodes if indegree[n] == 0)
    while ready:
        node = ready.popleft()
        for target in acyclic[node]:
            depth[target] = max(depth[target], depth[node] + 1)
            indegree[target] -= 1
            if indegree[target] == 0:
                ready.append(target)
    layers: list[list[str]] = [[] for _ in range(max(depth.values()) + 1)]
    for node in nodes:
        layers[depth[node]].append(node)
    return layers


def _acyclic(nodes: Sequence[str], edges: Sequence[tuple[str, str]]) -> dict[str, list[str]]:
    """The successor lists without back edges (edges to a node on the depth-first search stack)."""
    successors: dict[str, list[str]] = {n: [] for n in nodes}
    for source, target in edges:
        successors[source].append(target)
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    kept: dict[str, list[str]] = {n: [] for n in nodes}
    for start in nodes:
        if start in state:
            continue
        state[start] = 1
        stack = [(start, iter(successors[start]))]
        while stack:  # iterative: a long chain of activations would overflow recursion
            node, pending = stack[-1]
            step = next(pending, None)
            if step is None:
                state[node] = 2
                stack.pop()
            elif state.get(step) != 1:
                kept[node].append(step)
                if step not in state:
                    state[step] = 1
                    stack.append((step, iter(successors[step])))
    return kept


def _order(layers: list[list[str]], edges: Sequence[tuple[str, str]]) -> list[list[str]]:
    """Reduce crossings: sweep down and up, sorting each layer by the mean position of its neighbours."""
    predecessors: dict[str, list[str]] = {}
    successors: dict[str, list[str]] = {}
    for source, target in edges:
        successors.setdefault(source, []).append(target)
        predecessors.setdefault(target, []).append(source)
    position = {n: float(i) for layer in layers for i, n in enumerate(layer)}
    for sweep in range(_SWEEPS):
        downward = sweep % 2 == 0
        sequence = layers[1:] if downward else list(reversed(layers[:-1]))
        neighbours = predecessors if downward else successors
        for layer in sequence:
            keys = {n: (_centre(n, neighbours, position), position[n]) for n in layer}
            layer.sort(key=keys.__getitem__)
            position.update({n: float(i) for i, n in enumerate(layer)})
    return layers


def _centre(node: str, neighbours: Mapping[str, list[str]], position: Mapping[str, float]) -> float:
    around = [position[n] for n in neighbours.get(node, []) if n in position]
    return sum(around) / len(around) if around else position[node]


def _place(
    layers: list[list[str]], widths: Mapping[str, float], top: float, gap: float
) -> tuple[dict[str, Box], float, float]:
    """Columns of layers, each centred vertically on the tallest; returns the boxes, right edge and height."""
    heights = [len(layer) * NODE_HEIGHT + (len(layer) - 1) * _ROW_GAP for layer in layers]
    tallest = max(heights)
    boxes: dict[str, Box] = {}
    x = _MARGIN
    for index, layer in enumerate(layers):
        column = max(widths[n] for n in layer)
        y = top + (tallest - heights[index]) / 2
        for node in layer:
            width = widths[node]
            boxes[node] = Box(x + (column - width) / 2, y, width, NODE_HEIGHT, index)
            y += NODE_HEIGHT + _ROW_GAP
        x += column + gap
    return boxes, x - gap, tallest
