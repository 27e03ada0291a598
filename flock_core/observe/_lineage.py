"""Graphs of a workflow: the lineage of what ran (artifacts and activations) and the declared agent wiring."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from uuid import UUID

from ..blackboard._artifacts import Artifact, is_external
from ..blackboard._store import ArtifactQuery, BlackboardStore
from ..blackboard._visibility import AgentIdentity
from . import _export, _html
from ._nodes import ERROR_TYPE, ActivationNode, AgentNode, ArtifactNode, BoundaryNode, GraphEdge

if TYPE_CHECKING:
    from .._flock import Flock
    from ..agents._spec import AgentSpec, Subscription

__all__ = ["DeclaredGraph", "LineageGraph", "declared_graph", "lineage_graph"]

_PAGE = 1000


@dataclass(frozen=True, slots=True)
class LineageGraph:
    """What actually ran: artifacts, the activations that consumed and produced them, and `consumed_from` edges.

    Edges go from an input artifact to the activation that consumed it and from an activation to each artifact
    it published. Inputs outside the graph (another workflow, or deleted) appear in `ActivationNode.inputs` only.
    """

    nodes: tuple[ArtifactNode | ActivationNode, ...]
    edges: tuple[GraphEdge, ...]
    correlation_id: str | None = None

    @classmethod
    def from_artifacts(cls, artifacts: Iterable[Artifact], *, correlation_id: str | None = None) -> LineageGraph:
        """Build the graph from artifacts in store order."""
        return _build_lineage(list(artifacts), correlation_id)

    def to_mermaid(self) -> str:
        """A Mermaid `flowchart` (one subgraph per workflow when there are several)."""
        return _export.mermaid(self.nodes, self.edges)

    def to_dot(self) -> str:
        """A Graphviz DOT digraph (one cluster per workflow when there are several)."""
        return _export.dot(self.nodes, self.edges, "lineage")

    def to_html(self, title: str | None = None) -> str:
        """A self-contained HTML page: inline SVG and script, no network access."""
        default = f"Lineage of {self.correlation_id}" if self.correlation_id else "Lineage"
        return _html.page(self.nodes, self.edges, title or default)


@dataclass(frozen=True, slots=True)
class DeclaredGraph:
    """Who can feed whom: an edge from agent A to agent B when B consumes a type A publishes.

    Types that no agent publishes come from the `external` node; types that no agent consumes go to `results`.
    Edge labels name the types (`Idea ×3` for a count gate, `(join)` / `(batch)` for those subscriptions).
    """

    nodes: tuple[AgentNode | BoundaryNode, ...]
    edges: tuple[GraphEdge, ...]

    def to_mermaid(self) -> str:
        """A Mermaid `flowchart`."""
        return _export.mermaid(self.nodes, self.edges)

    def to_dot(self) -> str:
        """A Graphviz DOT digraph."""
        return _export.dot(self.nodes, self.edges, "agents")

    def to_html(self, title: str | None = None) -> str:
        """A self-contained HTML page: inline SVG and script, no network access."""
        return _html.page(self.nodes, self.edges, title or "Declared agents")


async def lineage_graph(
    store: BlackboardStore, correlation_id: str | None = None, *, visible_to: AgentIdentity | None = None
) -> LineageGraph:
    """The lineage of every artifact in `store`, or of one workflow; with `visible_to`, only what it may see.

    >>> import anyio
    >>> from flock_core import Artifact, InMemoryBlackboardStore
    >>> async def demo() -> str:
    ...     store = InMemoryBlackboardStore()
    ...     topic = Artifact(type="Topic", payload={}, correlation_id="c1")
    ...     await store.append(topic)
    ...     await store.append(Artifact(type="Idea", payload={}, correlation_id="c1",
    ...                                 produced_by="brainstorm", consumed_from=(topic.id,)))
    ...     return (await lineage_graph(store, "c1")).to_mermaid()
    >>> print(anyio.run(demo), end="")
    flowchart LR
        a1["Topic"]
        x1(["brainstorm"])
        a2["Idea"]
        a1 --> x1
        x1 --> a2
        classDef activation fill:#dbe7ff,stroke:#3b5bdb
        class x1 activation
    """
    artifacts: list[Artifact] = []
    offset: int | None = 0
    while offset is not None:
        query = ArtifactQuery(correlation_id=correlation_id, visible_to=visible_to, offset=offset, limit=_PAGE)
        page = await store.query(query)
        artifacts.extend(page.items)
        offset = page.next_offset
    return LineageGraph.from_artifacts(artifacts, correlation_id=correlation_id)


def declared_graph(flock: Flock) -> DeclaredGraph:
    """The agents of `flock` wired by the types they publish and consume."""
    specs = list(flock.agents.values())
    ids = {spec.name: f"g{i}" for i, spec in enumerate(specs, start=1)}
    published = {spec.name: {t for g in spec.output_groups for t in g.types} for spec in specs}
    consumed = {t for spec in specs for t in spec.consumed_types}
    labels: dict[tuple[str, str], list[str]] = {}
    external: list[str] = []
    for spec in specs:
        for subscription in spec.subscriptions:
            for type_name, count in subscription.required.items():
                label = _flow_label(type_name, count, subscription)
                producers = [
                    name
                    for name, types in published.items()
                    if type_name in types and (subscription.from_agents is None or name in subscription.from_agents)
                ]
                if not any(type_name in types for types in published.values()):
                    producers = ["inputs"]
                    external.append(type_name)
                for producer in producers:
                    _add_label(labels, (ids.get(producer, producer), ids[spec.name]), label)
    results = [t for spec in specs for g in spec.output_groups for t in g.types if t not in consumed]
    for spec in specs:
        for type_name in dict.fromkeys(t for g in spec.output_groups for t in g.types if t in results):
            _add_label(labels, (ids[spec.name], "outputs"), type_name)
    nodes: list[AgentNode | BoundaryNode] = []
    if external:
        nodes.append(BoundaryNode("inputs", "external", tuple(dict.fromkeys(external))))
    nodes.extend(_agent_node(ids[spec.name], spec) for spec in specs)
    if results:
        nodes.append(BoundaryNode("outputs", "results", tuple(dict.fromkeys(results))))
    edges = tuple(GraphEdge(s, t, ", ".join(names)) for (s, t), names in labels.items())
    return DeclaredGraph(tuple(nodes), _ordered_edges(edges, [n.id for n in nodes]))


def _build_lineage(artifacts: Sequence[Artifact], correlation_id: str | None) -> LineageGraph:
    artifact_ids = {a.id: f"a{i}" for i, a in enumerate(artifacts, start=1)}
    groups: dict[tuple[str, tuple[UUID, ...], str], list[Artifact]] = {}
    for artifact in artifacts:
        if not is_external(artifact):
            key = (artifact.produced_by, tuple(sorted(artifact.consumed_from)), _span_of(artifact))
            groups.setdefault(key, []).append(artifact)
    activation_of: dict[UUID, ActivationNode] = {}
    for index, ((agent, inputs, _), outputs) in enumerate(groups.items(), start=1):
        node = ActivationNode(
            id=f"x{index}",
            agent=agent,
            correlation_id=outputs[0].correlation_id,
            inputs=inputs,
            outputs=tuple(o.id for o in outputs),
            failed=any(o.type == ERROR_TYPE for o in outputs),
        )
        for output in outputs:
            activation_of[output.id] = node
    nodes: list[ArtifactNode | ActivationNode] = []
    edges: list[GraphEdge] = []
    placed: set[str] = set()
    for artifact in artifacts:
        activation = activation_of.get(artifact.id)
        if activation is not None and activation.id not in placed:
            placed.add(activation.id)
            nodes.append(activation)
            edges.extend(GraphEdge(artifact_ids[i], activation.id) for i in activation.inputs if i in artifact_ids)
        nodes.append(_artifact_node(artifact_ids[artifact.id], artifact))
        if activation is not None:
            edges.append(GraphEdge(activation.id, artifact_ids[artifact.id]))
    return LineageGraph(tuple(nodes), tuple(edges), correlation_id)


def _artifact_node(node_id: str, artifact: Artifact) -> ArtifactNode:
    return ArtifactNode(
        id=node_id,
        artifact_id=artifact.id,
        type=artifact.type,
        produced_by=artifact.produced_by,
        correlation_id=artifact.correlation_id,
        created_at=artifact.created_at,
    )


def _span_of(artifact: Artifact) -> str:
    """The producing span's id from the artifact's W3C `traceparent` (`version-trace-span-flags`), or ''."""
    parts = artifact.trace_context.get("traceparent", "").split("-")
    return parts[2] if len(parts) == 4 else ""


def _agent_node(node_id: str, spec: AgentSpec) -> AgentNode:
    return AgentNode(
        id=node_id,
        name=spec.name,
        consumes=tuple(dict.fromkeys(t for s in spec.subscriptions for t in s.types)),
        publishes=tuple(dict.fromkeys(t for g in spec.output_groups for t in g.types)),
        scheduled=spec.schedule is not None,
    )


def _flow_label(type_name: str, count: int, subscription: Subscription) -> str:
    label = f"{type_name} ×{count}" if count > 1 else type_name
    if subscription.join is not None:
        return f"{label} (join)"
    if subscription.batch is not None:
        return f"{label} (batch)"
    return label


def _add_label(labels: dict[tuple[str, str], list[str]], key: tuple[str, str], label: str) -> None:
    names = labels.setdefault(key, [])
    if label not in names:
        names.append(label)


def _ordered_edges(edges: Sequence[GraphEdge], order: Sequence[str]) -> tuple[GraphEdge, ...]:
    rank: Mapping[str, int] = {node_id: i for i, node_id in enumerate(order)}
    return tuple(sorted(edges, key=lambda e: (rank.get(e.source, len(rank)), rank.get(e.target, len(rank)))))
