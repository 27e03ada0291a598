"""Mermaid and DOT exports: whole outputs, stable across runs (node ids follow store order)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from inline_snapshot import snapshot

from flock_core import Artifact
from flock_core.tracing import LineageGraph, declared_graph, lineage_graph

from .conftest import Topic, make_flock

pytestmark = pytest.mark.anyio


@pytest.fixture
async def pipeline_lineage() -> LineageGraph:
    flock = make_flock(judge=True)
    await flock.arun(Topic(name="bees"))
    return await lineage_graph(flock.store)


async def test_lineage_as_mermaid(pipeline_lineage: LineageGraph) -> None:
    assert pipeline_lineage.to_mermaid() == snapshot("""\
flowchart LR
    a1["Topic"]
    x1(["brainstorm"])
    a2["Idea"]
    a3["Idea"]
    a4["Idea"]
    x2(["summarise"])
    a5["Summary"]
    x3(["judge"])
    a6["WorkflowError"]
    a1 --> x1
    x1 --> a2
    x1 --> a3
    x1 --> a4
    a2 --> x2
    a3 --> x2
    a4 --> x2
    x2 --> a5
    a5 --> x3
    x3 --> a6
    classDef activation fill:#dbe7ff,stroke:#3b5bdb
    class x1,x2 activation
    classDef error fill:#ffe3e3,stroke:#c92a2a
    class x3,a6 error
""")


async def test_lineage_as_dot(pipeline_lineage: LineageGraph) -> None:
    assert pipeline_lineage.to_dot() == snapshot("""\
digraph lineage {
    rankdir=LR;
    node [fontname="Helvetica", fontsize=11, shape=box];
    edge [fontname="Helvetica", fontsize=9, color="#495057"];
    a1 [label="Topic"];
    x1 [label="brainstorm", style="rounded,filled", fillcolor="#dbe7ff"];
    a2 [label="Idea"];
    a3 [label="Idea"];
    a4 [label="Idea"];
    x2 [label="summarise", style="rounded,filled", fillcolor="#dbe7ff"];
    a5 [label="Summary"];
    x3 [label="judge", style="rounded,filled", fillcolor="#ffe3e3", color="#c92a2a"];
    a6 [label="WorkflowError", fillcolor="#ffe3e3", color="#c92a2a", style=filled];
    a1 -> x1;
    x1 -> a2;
    x1 -> a3;
    x1 -> a4;
    a2 -> x2;
    a3 -> x2;
    a4 -> x2;
    x2 -> a5;
    a5 -> x3;
    x3 -> a6;
}
""")


def test_declared_graph_as_mermaid_and_dot() -> None:
    graph = declared_graph(make_flock(judge=True))
    assert graph.to_mermaid() == snapshot("""\
flowchart LR
    inputs(["external"])
    g1("brainstorm")
    g2("summarise")
    g3("judge")
    outputs(["results"])
    inputs -->|"Topic"| g1
    g1 -->|"Idea ×3"| g2
    g2 -->|"Summary"| g3
    g3 -->|"Verdict"| outputs
    classDef external fill:#f1f3f5,stroke:#868e96
    class inputs external
    classDef agent fill:#dbe7ff,stroke:#3b5bdb
    class g1,g2,g3 agent
    classDef results fill:#f1f3f5,stroke:#868e96
    class outputs results
""")
    assert graph.to_dot() == snapshot("""\
digraph agents {
    rankdir=LR;
    node [fontname="Helvetica", fontsize=11, shape=box];
    edge [fontname="Helvetica", fontsize=9, color="#495057"];
    inputs [label="external", shape=oval, style=filled, fillcolor="#f1f3f5"];
    g1 [label="brainstorm", style="rounded,filled", fillcolor="#dbe7ff"];
    g2 [label="summarise", style="rounded,filled", fillcolor="#dbe7ff"];
    g3 [label="judge", style="rounded,filled", fillcolor="#dbe7ff"];
    outputs [label="results", shape=oval, style=filled, fillcolor="#f1f3f5"];
    inputs -> g1 [label="Topic"];
    g1 -> g2 [label="Idea ×3"];
    g2 -> g3 [label="Summary"];
    g3 -> outputs [label="Verdict"];
}
""")


def two_workflows() -> LineageGraph:
    when = datetime(2025, 1, 1, tzinfo=UTC)
    artifacts: list[Artifact] = []
    for correlation in ("order-1", "order-2"):
        source = Artifact(type="Order", payload={}, correlation_id=correlation, created_at=when)
        reply = Artifact(
            type='Say "hi" <b>',
            payload={},
            correlation_id=correlation,
            produced_by="clerk",
            consumed_from=(source.id,),
            created_at=when,
        )
        artifacts += [source, reply]
    return LineageGraph.from_artifacts(artifacts)


def test_several_workflows_become_subgraphs_and_labels_are_escaped() -> None:
    graph = two_workflows()
    assert graph.to_mermaid() == snapshot("""\
flowchart LR
    subgraph w1["order-1"]
        a1["Order"]
        x1(["clerk"])
        a2["Say #quot;hi#quot; #lt;b#gt;"]
    end
    subgraph w2["order-2"]
        a3["Order"]
        x2(["clerk"])
        a4["Say #quot;hi#quot; #lt;b#gt;"]
    end
    a1 --> x1
    x1 --> a2
    a3 --> x2
    x2 --> a4
    classDef activation fill:#dbe7ff,stroke:#3b5bdb
    class x1,x2 activation
""")
    assert graph.to_dot() == snapshot("""\
digraph lineage {
    rankdir=LR;
    node [fontname="Helvetica", fontsize=11, shape=box];
    edge [fontname="Helvetica", fontsize=9, color="#495057"];
    subgraph cluster_1 {
        label="order-1";
        a1 [label="Order"];
        x1 [label="clerk", style="rounded,filled", fillcolor="#dbe7ff"];
        a2 [label="Say \\"hi\\" <b>"];
    }
    subgraph cluster_2 {
        label="order-2";
        a3 [label="Order"];
        x2 [label="clerk", style="rounded,filled", fillcolor="#dbe7ff"];
        a4 [label="Say \\"hi\\" <b>"];
    }
    a1 -> x1;
    x1 -> a2;
    a3 -> x2;
    x2 -> a4;
}
""")
