"""Lineage graphs of what ran and declared graphs of who can feed whom."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import BaseModel

from flock_core import Artifact, ArtifactQuery, BatchSpec, Flock, InMemoryBlackboardStore, JoinSpec
from flock_core.testing import ScriptedEngine
from flock_core.tracing import (
    ActivationNode,
    AgentNode,
    ArtifactNode,
    BoundaryNode,
    GraphEdge,
    LineageGraph,
    declared_graph,
    lineage_graph,
)

from .conftest import Idea, Summary, Topic, Verdict, make_flock

pytestmark = pytest.mark.anyio


def shape(graph: LineageGraph) -> list[tuple[str, str]]:
    return [(n.id, n.label) for n in graph.nodes]


def edges(graph: LineageGraph) -> list[tuple[str, str]]:
    return [(e.source, e.target) for e in graph.edges]


async def test_fan_out_gate_and_failure_lineage() -> None:
    flock = make_flock(judge=True)
    result = await flock.arun(Topic(name="bees"))
    graph = await lineage_graph(flock.store)
    assert shape(graph) == [
        ("a1", "Topic"),
        ("x1", "brainstorm"),
        ("a2", "Idea"),
        ("a3", "Idea"),
        ("a4", "Idea"),
        ("x2", "summarise"),
        ("a5", "Summary"),
        ("x3", "judge"),
        ("a6", "WorkflowError"),
    ]
    assert edges(graph) == [
        ("a1", "x1"),
        ("x1", "a2"),
        ("x1", "a3"),
        ("x1", "a4"),
        ("a2", "x2"),
        ("a3", "x2"),
        ("a4", "x2"),
        ("x2", "a5"),
        ("a5", "x3"),
        ("x3", "a6"),
    ]
    topic, idea_1, idea_2, idea_3, summary, error = result.artifacts
    brainstorm, summarise, judge = (n for n in graph.nodes if isinstance(n, ActivationNode))
    assert brainstorm == ActivationNode(
        id="x1",
        agent="brainstorm",
        correlation_id=topic.correlation_id,
        inputs=(topic.id,),
        outputs=(idea_1.id, idea_2.id, idea_3.id),
        failed=False,
    )
    assert summarise.inputs == tuple(sorted((idea_1.id, idea_2.id, idea_3.id)))
    assert (judge.failed, judge.error, judge.outputs) == (True, True, (error.id,))
    first = graph.nodes[0]
    assert first == ArtifactNode(
        id="a1",
        artifact_id=topic.id,
        type="Topic",
        produced_by="external",
        correlation_id=topic.correlation_id,
        created_at=topic.created_at,
    )
    assert (first.error, graph.nodes[-1].error) == (False, True)
    assert summary.type == "Summary"


async def test_a_correlation_id_selects_one_workflow() -> None:
    flock = make_flock()
    first = await flock.arun(Topic(name="bees"))
    await flock.arun(Topic(name="ants"))
    everything = await lineage_graph(flock.store)
    one = await lineage_graph(flock.store, first.artifacts[0].correlation_id)
    assert (len(everything.nodes), len(one.nodes)) == (14, 7)
    assert {n.group for n in one.nodes} == {first.artifacts[0].correlation_id}
    assert one.correlation_id == first.artifacts[0].correlation_id


async def test_the_store_is_read_page_by_page() -> None:
    store = InMemoryBlackboardStore()
    for _ in range(1201):
        await store.append(Artifact(type="Note", payload={}, correlation_id="c"))
    graph = await lineage_graph(store)
    assert (len(graph.nodes), graph.nodes[-1].id) == (1201, "a1201")


def test_outputs_of_one_span_form_one_activation_and_other_spans_another() -> None:
    span_1 = {"traceparent": f"00-{'1' * 32}-{'a' * 16}-01"}
    span_2 = {"traceparent": f"00-{'1' * 32}-{'b' * 16}-01"}
    ticks = [
        Artifact(type="Report", payload={}, correlation_id="c", produced_by="ticker", trace_context=context)
        for context in (span_1, span_1, span_2)
    ]
    graph = LineageGraph.from_artifacts(ticks)
    assert shape(graph) == [("x1", "ticker"), ("a1", "Report"), ("a2", "Report"), ("x2", "ticker"), ("a3", "Report")]
    untraced = [t.model_copy(update={"trace_context": {}}) for t in ticks]
    assert shape(LineageGraph.from_artifacts(untraced))[:1] == [("x1", "ticker")]
    assert len(LineageGraph.from_artifacts(untraced).nodes) == 4


def test_inputs_outside_the_graph_are_kept_on_the_activation_without_edges() -> None:
    inside = Artifact(type="Idea", payload={}, correlation_id="c")
    outside = Artifact(type="Idea", payload={}, correlation_id="other")
    summary = Artifact(
        type="Summary", payload={}, correlation_id="c", produced_by="s", consumed_from=(inside.id, outside.id)
    )
    graph = LineageGraph.from_artifacts([inside, summary])
    activation = graph.nodes[1]
    assert isinstance(activation, ActivationNode)
    assert set(activation.inputs) == {inside.id, outside.id}
    assert edges(graph) == [("a1", "x1"), ("x1", "a2")]


def test_declared_graph_of_the_fan_out_gate_pipeline() -> None:
    graph = declared_graph(make_flock(judge=True))
    assert graph.nodes == (
        BoundaryNode("inputs", "external", ("Topic",)),
        AgentNode("g1", "brainstorm", ("Topic",), ("Idea",)),
        AgentNode("g2", "summarise", ("Idea",), ("Summary",)),
        AgentNode("g3", "judge", ("Summary",), ("Verdict",)),
        BoundaryNode("outputs", "results", ("Verdict",)),
    )
    assert graph.edges == (
        GraphEdge("inputs", "g1", "Topic"),
        GraphEdge("g1", "g2", "Idea ×3"),
        GraphEdge("g2", "g3", "Summary"),
        GraphEdge("g3", "outputs", "Verdict"),
    )


class Order(BaseModel):
    id: str


class Payment(BaseModel):
    order_id: str


def test_declared_graph_follows_from_agents_joins_batches_loops_and_timers() -> None:
    flock = Flock(engine=ScriptedEngine())
    for model in (Topic, Idea, Summary, Verdict, Order, Payment):
        flock.register_type(model)
    flock.agent("writer").consumes(Topic).publishes(Idea)
    flock.agent("critic").consumes(Idea).publishes(Idea, Verdict)  # a loop back into itself and the writer's type
    flock.agent("picky").consumes(Idea, from_agents="writer").publishes(Summary)
    flock.agent("matcher").consumes(Order, Payment, join=JoinSpec(by=lambda p: p, within=5)).publishes(Verdict)
    flock.agent("digest").consumes(Summary, batch=BatchSpec(size=3)).publishes(Verdict)
    flock.agent("clock").schedule(every=timedelta(seconds=5)).publishes(Topic)
    graph = declared_graph(flock)
    assert [(e.source, e.target, e.label) for e in graph.edges] == [
        ("inputs", "g4", "Order (join), Payment (join)"),
        ("g1", "g2", "Idea"),
        ("g1", "g3", "Idea"),
        ("g2", "g2", "Idea"),
        ("g2", "outputs", "Verdict"),
        ("g3", "g5", "Summary (batch)"),
        ("g4", "outputs", "Verdict"),
        ("g5", "outputs", "Verdict"),
        ("g6", "g1", "Topic"),
    ]
    clock = graph.nodes[-2]
    assert isinstance(clock, AgentNode)
    assert (clock.name, clock.scheduled, clock.details()["schedule"]) == ("clock", True, "runs on a timer")


async def test_from_artifacts_builds_the_same_graph_without_a_store() -> None:
    flock = make_flock()
    await flock.arun(Topic(name="x"))
    page = await flock.store.query(ArtifactQuery())
    assert LineageGraph.from_artifacts(page.items) == await lineage_graph(flock.store)
