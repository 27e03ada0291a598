"""Text exports of a graph: Mermaid flowcharts and Graphviz DOT, deterministic for a given graph."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from ._nodes import Drawable, GraphEdge

__all__ = ["dot", "mermaid"]

_MERMAID_SHAPE: Final[dict[str, tuple[str, str]]] = {
    "artifact": ('["', '"]'),
    "activation": ('(["', '"])'),
    "agent": ('("', '")'),
    "external": ('(["', '"])'),
    "results": ('(["', '"])'),
}
# Mermaid class styles: a node's class is "error" if it records a failure, else its kind (artifacts are plain).
_MERMAID_STYLE: Final[dict[str, str]] = {
    "activation": "fill:#dbe7ff,stroke:#3b5bdb",
    "agent": "fill:#dbe7ff,stroke:#3b5bdb",
    "external": "fill:#f1f3f5,stroke:#868e96",
    "results": "fill:#f1f3f5,stroke:#868e96",
    "error": "fill:#ffe3e3,stroke:#c92a2a",
}
# DOT attributes by kind (artifacts use the defaults: a plain box); an error keeps its shape and turns red.
_DOT_KIND: Final[dict[str, dict[str, str]]] = {
    "activation": {"style": '"rounded,filled"', "fillcolor": '"#dbe7ff"'},
    "agent": {"style": '"rounded,filled"', "fillcolor": '"#dbe7ff"'},
    "external": {"shape": "oval", "style": "filled", "fillcolor": '"#f1f3f5"'},
    "results": {"shape": "oval", "style": "filled", "fillcolor": '"#f1f3f5"'},
}
_DOT_ERROR: Final = {"fillcolor": '"#ffe3e3"', "color": '"#c92a2a"'}


def mermaid(nodes: Sequence[Drawable], edges: Sequence[GraphEdge]) -> str:
    """A left-to-right Mermaid flowchart; a subgraph per group when nodes belong to several groups."""
    lines = ["flowchart LR"]
    for index, (group, members) in enumerate(_groups(nodes), start=1):
        indent = "    "
        if group is not None:
            lines.append(f'    subgraph w{index}["{_mermaid_text(group)}"]')
            indent = "        "
        for node in members:
            opening, closing = _MERMAID_SHAPE[node.kind]
            lines.append(f"{indent}{node.id}{opening}{_mermaid_text(node.label)}{closing}")
        if group is not None:
            lines.append("    end")
    for edge in edges:
        label = f'|"{_mermaid_text(edge.label)}"|' if edge.label else ""
        lines.append(f"    {edge.source} -->{label} {edge.target}")
    for style, members in _styled(nodes).items():
        lines.append(f"    classDef {style} {_MERMAID_STYLE[style]}")
        lines.append(f"    class {','.join(members)} {style}")
    return "\n".join(lines) + "\n"


def dot(nodes: Sequence[Drawable], edges: Sequence[GraphEdge], name: str) -> str:
    """A left-to-right Graphviz digraph; a cluster per group when nodes belong to several groups."""
    lines = [
        f"digraph {name} {{",
        "    rankdir=LR;",
        '    node [fontname="Helvetica", fontsize=11, shape=box];',
        '    edge [fontname="Helvetica", fontsize=9, color="#495057"];',
    ]
    for index, (group, members) in enumerate(_groups(nodes), start=1):
        indent = "    "
        if group is not None:
            lines.append(f"    subgraph cluster_{index} {{")
            lines.append(f'        label="{_dot_text(group)}";')
            indent = "        "
        for node in members:
            attributes = {"label": f'"{_dot_text(node.label)}"', **_dot_style(node)}
            lines.append(f"{indent}{node.id} [{', '.join(f'{k}={v}' for k, v in attributes.items())}];")
        if group is not None:
            lines.append("    }")
    for edge in edges:
        label = f' [label="{_dot_text(edge.label)}"]' if edge.label else ""
        lines.append(f"    {edge.source} -> {edge.target}{label};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _groups(nodes: Sequence[Drawable]) -> list[tuple[str | None, list[Drawable]]]:
    """Nodes split by group in order of first appearance, or one unnamed group if there are fewer than two."""
    groups: dict[str | None, list[Drawable]] = {}
    for node in nodes:
        groups.setdefault(node.group, []).append(node)
    if len(groups) < 2:
        return [(None, list(nodes))]
    return list(groups.items())


def _styled(nodes: Sequence[Drawable]) -> dict[str, list[str]]:
    """Node ids by Mermaid class, for the nodes that are not drawn plain; error wins over the kind."""
    styled: dict[str, list[str]] = {}
    for node in nodes:
        style = "error" if node.error else node.kind
        if style in _MERMAID_STYLE:
            styled.setdefault(style, []).append(node.id)
    return styled


def _dot_style(node: Drawable) -> dict[str, str]:
    attributes = dict(_DOT_KIND.get(node.kind, {}))
    if node.error:
        attributes.update(_DOT_ERROR)
        attributes["style"] = '"rounded,filled"' if node.kind in ("activation", "agent") else "filled"
    return attributes


def _mermaid_text(text: str) -> str:
    return text.replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;").replace("\n", " ")


def _dot_text(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")
