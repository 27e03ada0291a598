"""The nodes and edges of lineage and declared graphs, and what the exporters need from a node."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal, Protocol
from uuid import UUID

from ..blackboard._artifacts import WorkflowError
from ..blackboard._registry import type_name_of

__all__ = [
    "ERROR_TYPE",
    "ActivationNode",
    "AgentNode",
    "ArtifactNode",
    "BoundaryNode",
    "Drawable",
    "GraphEdge",
    "NodeKind",
]

NodeKind = Literal["artifact", "activation", "agent", "external", "results"]
ERROR_TYPE: Final = type_name_of(WorkflowError)


class Drawable(Protocol):
    """What the Mermaid, DOT and HTML exporters need from a node."""

    @property
    def id(self) -> str: ...
    @property
    def kind(self) -> NodeKind: ...
    @property
    def label(self) -> str: ...
    @property
    def error(self) -> bool: ...
    @property
    def group(self) -> str | None: ...
    def details(self) -> dict[str, str]: ...


@dataclass(frozen=True, slots=True)
class ArtifactNode:
    """An artifact on the board. `id` is its position in store order (`a1`, `a2`, ...), stable across runs."""

    id: str
    artifact_id: UUID
    type: str
    produced_by: str
    correlation_id: str
    created_at: datetime
    kind: Literal["artifact"] = "artifact"

    @property
    def label(self) -> str:
        """The artifact's type."""
        return self.type

    @property
    def error(self) -> bool:
        """Whether it records a failure (a `WorkflowError`)."""
        return self.type == ERROR_TYPE

    @property
    def group(self) -> str | None:
        """The workflow it belongs to."""
        return self.correlation_id

    def details(self) -> dict[str, str]:
        """Facts shown in the HTML page."""
        return {
            "artifact id": str(self.artifact_id),
            "type": self.type,
            "produced by": self.produced_by,
            "correlation id": self.correlation_id,
            "created at": self.created_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class ActivationNode:
    """One activation of an agent: the artifacts it consumed and published. `id` is `x1`, `x2`, ... in order.

    Outputs are grouped into one activation by (agent, sorted `consumed_from`), and, when tracing was on, by the
    span that produced them (so repeated timer ticks stay apart).
    """

    id: str
    agent: str
    correlation_id: str
    inputs: tuple[UUID, ...]
    outputs: tuple[UUID, ...]
    failed: bool
    kind: Literal["activation"] = "activation"

    @property
    def label(self) -> str:
        """The agent's name."""
        return self.agent

    @property
    def error(self) -> bool:
        """Whether the activation failed (it published a `WorkflowError`)."""
        return self.failed

    @property
    def group(self) -> str | None:
        """The workflow it ran in."""
        return self.correlation_id

    def details(self) -> dict[str, str]:
        """Facts shown in the HTML page."""
        return {
            "agent": self.agent,
            "inputs": ", ".join(str(i) for i in self.inputs) or "-",
            "outputs": ", ".join(str(o) for o in self.outputs),
            "correlation id": self.correlation_id,
            "status": "failed" if self.failed else "ok",
        }


@dataclass(frozen=True, slots=True)
class AgentNode:
    """A declared agent. `id` is `g1`, `g2`, ... in declaration order."""

    id: str
    name: str
    consumes: tuple[str, ...]
    publishes: tuple[str, ...]
    scheduled: bool = False
    kind: Literal["agent"] = "agent"

    @property
    def label(self) -> str:
        """The agent's name."""
        return self.name

    @property
    def error(self) -> bool:
        """Declarations are never errors."""
        return False

    @property
    def group(self) -> str | None:
        """Declared graphs are not grouped."""
        return None

    def details(self) -> dict[str, str]:
        """Facts shown in the HTML page."""
        facts = {"agent": self.name, "consumes": ", ".join(self.consumes) or "-"}
        facts["publishes"] = ", ".join(self.publishes) or "-"
        if self.scheduled:
            facts["schedule"] = "runs on a timer"
        return facts


@dataclass(frozen=True, slots=True)
class BoundaryNode:
    """Where a declared graph meets the outside: `external` inputs, or `results` that no agent consumes."""

    id: Literal["inputs", "outputs"]
    kind: Literal["external", "results"]
    types: tuple[str, ...]

    @property
    def label(self) -> str:
        """`external` or `results`."""
        return self.kind

    @property
    def error(self) -> bool:
        """Never an error."""
        return False

    @property
    def group(self) -> str | None:
        """Declared graphs are not grouped."""
        return None

    def details(self) -> dict[str, str]:
        """Facts shown in the HTML page."""
        return {"types": ", ".join(self.types)}


@dataclass(frozen=True, slots=True)
class GraphEdge:
    """A directed edge between two node ids, with an optional label (the types that flow along it)."""

    source: str
    target: str
    label: str = ""
