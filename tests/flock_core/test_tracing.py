"""Spans, attributes, links and events, captured with the SDK's in-memory exporter."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NoOpTracerProvider, ProxyTracerProvider, SpanContext, SpanKind, StatusCode
from pydantic import BaseModel

from flock_core import (
    Artifact,
    ArtifactQuery,
    EvaluationRequest,
    EvaluationResult,
    Flock,
    InMemoryBlackboardStore,
    PrivateVisibility,
    Usage,
    WorkflowError,
)
from flock_core._tracing import WORKFLOW_KEY, active_tracer, quiet_span
from flock_core.testing import FunctionEngine, Script, ScriptedEngine

pytestmark = pytest.mark.anyio


class Topic(BaseModel):
    name: str


class Idea(BaseModel):
    text: str


class Summary(BaseModel):
    text: str


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    yield exporter
    exporter.shutdown()


def make_flock(exporter: InMemorySpanExporter, engine: FunctionEngine | ScriptedEngine) -> tuple[Flock, TracerProvider]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    flock = Flock(engine=engine, tracer_provider=provider)
    for model in (Topic, Idea, Summary):
        flock.register_type(model)
    return flock, provider


def by_name(spans: tuple[ReadableSpan, ...], name: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name == name]


def pipeline_engine(request: EvaluationRequest) -> EvaluationResult:
    if request.agent.name == "brainstorm":
        return EvaluationResult([Idea(text=f"idea {i}") for i in range(3)], Usage(10, 5, 1))
    return EvaluationResult([Summary(text=" + ".join(str(p) for p in request.payloads))], Usage(7, 3, 1))


def traceparent(context: SpanContext) -> str:
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"


def tree(spans: tuple[ReadableSpan, ...]) -> list[tuple[str, SpanKind, str | None]]:
    """(name, kind, parent's name) of every span, in start order."""
    names = {s.context.span_id: s.name for s in spans if s.context is not None}
    ordered = sorted(spans, key=lambda s: s.start_time or 0)
    return [(s.name, s.kind, names.get(s.parent.span_id) if s.parent else None) for s in ordered]


async def test_activations_are_siblings_under_the_workflow_span_with_links_for_lineage(
    exporter: InMemorySpanExporter,
) -> None:
    flock, provider = make_flock(exporter, FunctionEngine(pipeline_engine))
    flock.agent("brainstorm").consumes(Topic).publishes(Idea, fan_out=3)
    flock.agent("summarise").consumes(Idea, Idea, Idea).publishes(Summary)
    topic = await flock.publish(Topic(name="bees"))
    await flock.run_until_idle()
    provider.shutdown()
    spans = exporter.get_finished_spans()

    assert tree(spans) == [
        ("invoke_workflow Topic", SpanKind.INTERNAL, None),
        ("publish Topic", SpanKind.PRODUCER, "invoke_workflow Topic"),
        ("invoke_agent brainstorm", SpanKind.INTERNAL, "invoke_workflow Topic"),
        ("invoke_agent summarise", SpanKind.INTERNAL, "invoke_workflow Topic"),
    ]
    [workflow] = by_name(spans, "invoke_workflow Topic")
    [publish] = by_name(spans, "publish Topic")
    [brainstorm] = by_name(spans, "invoke_agent brainstorm")
    [summarise] = by_name(spans, "invoke_agent summarise")
    assert len({s.context.trace_id for s in spans if s.context}) == 1
    assert dict(workflow.attributes or {}) == {
        "gen_ai.operation.name": "invoke_workflow",
        "gen_ai.conversation.id": topic.correlation_id,
        "openinference.span.kind": "CHAIN",
    }
    assert workflow.status.status_code == StatusCode.UNSET
    assert dict(publish.attributes or {}) == {
        "gen_ai.conversation.id": topic.correlation_id,
        "openinference.span.kind": "CHAIN",
        "flock.artifact.type": "Topic",
        "flock.artifact.id": str(topic.id),
    }
    attrs = dict(brainstorm.attributes or {})
    assert attrs["gen_ai.operation.name"] == "invoke_agent"
    assert attrs["gen_ai.agent.name"] == "brainstorm"
    assert attrs["gen_ai.conversation.id"] == topic.correlation_id
    assert attrs["flock.input.ids"] == (str(topic.id),)
    assert attrs["flock.input.types"] == ("Topic",)
    assert attrs["flock.output.types"] == ("Idea", "Idea", "Idea")
    assert (attrs["gen_ai.usage.input_tokens"], attrs["gen_ai.usage.output_tokens"]) == (10, 5)
    assert "input.value" not in attrs  # content is not captured unless asked for
    # lineage: each activation links to the producer span of its inputs; the gate's fan-in is three links
    assert publish.context is not None
    assert brainstorm.context is not None
    assert [link.context.span_id for link in brainstorm.links] == [publish.context.span_id]
    assert [link.context.span_id for link in summarise.links] == [brainstorm.context.span_id] * 3
    ideas = await flock.store.query(ArtifactQuery(types=frozenset({"Idea"})))
    assert {str(link.attributes["flock.artifact.id"]) for link in summarise.links if link.attributes} == {
        str(a.id) for a in ideas.items
    }
    # artifacts carry their producer's context and their workflow's, so other processes join the same tree
    assert workflow.context is not None
    assert [a.trace_context for a in ideas.items] == [
        {"traceparent": traceparent(brainstorm.context), WORKFLOW_KEY: traceparent(workflow.context)}
    ] * 3


async def test_one_workflow_span_for_every_publish_of_a_run(exporter: InMemorySpanExporter) -> None:
    flock, provider = make_flock(exporter, FunctionEngine(pipeline_engine))
    flock.agent("summarise").consumes(Idea, Idea).publishes(Summary)
    await flock.arun(Idea(text="a"), Idea(text="b"))
    provider.shutdown()
    assert tree(exporter.get_finished_spans()) == [
        ("invoke_workflow Idea", SpanKind.INTERNAL, None),
        ("publish Idea", SpanKind.PRODUCER, "invoke_workflow Idea"),
        ("publish Idea", SpanKind.PRODUCER, "invoke_workflow Idea"),
        ("invoke_agent summarise", SpanKind.INTERNAL, "invoke_workflow Idea"),
    ]
    assert flock._core.tracer.open_workflows == ()


async def test_engine_failure_marks_span_and_error_carries_trace_id(exporter: InMemorySpanExporter) -> None:
    flock, provider = make_flock(exporter, ScriptedEngine({"broken": Script(RuntimeError("model down"))}))
    flock.agent("broken").consumes(Topic).publishes(Idea)
    result = await flock.arun(Topic(name="x"))
    provider.shutdown()
    [span] = by_name(exporter.get_finished_spans(), "invoke_agent broken")
    assert span.status.status_code == StatusCode.ERROR
    assert span.status.description == "model down"
    assert (span.attributes or {})["error.type"] == "RuntimeError"
    assert [e.name for e in span.events] == ["exception"]
    [error] = result.get(WorkflowError)
    assert span.context is not None
    assert error.trace_id == format(span.context.trace_id, "032x")


async def test_a_failure_that_may_quote_non_public_inputs_keeps_its_message_off_spans(
    exporter: InMemorySpanExporter,
) -> None:
    def leak(request: EvaluationRequest) -> list[BaseModel]:
        raise RuntimeError(f"cannot handle {request.payloads[0]}")

    flock, provider = make_flock(exporter, FunctionEngine(leak))
    flock.agent("reader").consumes(Topic).publishes(Idea)
    await flock.publish(Topic(name="the-secret"), visibility=PrivateVisibility(agents=frozenset({"reader"})))
    await flock.run_until_idle()
    await flock.shutdown()
    provider.shutdown()
    [error] = [a for a in (await flock.store.query(ArtifactQuery())).items if a.type == "WorkflowError"]
    assert "the-secret" in error.payload["message"]  # the error artifact keeps it, under the inputs' visibility
    spans = exporter.get_finished_spans()
    [agent] = by_name(spans, "invoke_agent reader")
    assert agent.status.status_code == StatusCode.ERROR
    assert agent.status.description == "RuntimeError (message withheld: it may quote artifacts that are not public)"
    [event] = agent.events
    assert event.attributes is not None
    assert event.attributes["exception.type"] == "RuntimeError"
    assert "in leak" in str(event.attributes["exception.stacktrace"])  # the frames stay
    assert "the-secret" not in json.dumps([(dict(s.attributes or {}), s.status.description) for s in spans])
    assert all("the-secret" not in str(e.attributes) for s in spans for e in s.events)


def test_an_exception_escaping_a_framework_span_is_recorded_by_its_type_only(exporter: InMemorySpanExporter) -> None:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with pytest.raises(ValueError, match="the-secret"), quiet_span(provider.get_tracer("t"), "publish"):
        raise ValueError("the-secret")
    [span] = exporter.get_finished_spans()
    assert span.status.status_code == StatusCode.ERROR
    assert span.status.description == "ValueError (message withheld: it may quote artifacts that are not public)"
    assert (span.attributes or {})["error.type"] == "ValueError"
    assert span.events == ()


async def test_repaired_contract_violation_is_a_span_event(exporter: InMemorySpanExporter) -> None:
    engine = ScriptedEngine({"b": Script([Idea(text="1")], [Idea(text="1"), Idea(text="2")])})
    flock, provider = make_flock(exporter, engine)
    flock.agent("b").consumes(Topic).publishes(Idea, fan_out=2)
    result = await flock.arun(Topic(name="x"))
    provider.shutdown()
    assert len(result.get(Idea)) == 2
    [span] = by_name(exporter.get_finished_spans(), "invoke_agent b")
    [event] = span.events
    assert event.name == "flock.contract_violation"
    assert dict(event.attributes or {}) == {
        "flock.output_group": 0,
        "flock.attempt": 0,
        "flock.expected": "exactly 2 Idea",
        "flock.got": "1 x Idea",
        "flock.errors": ("Idea: expected exactly 2, got 1",),
        "flock.will_repair": True,
    }
    assert span.status.status_code == StatusCode.UNSET


async def test_no_spans_recorded_without_a_provider() -> None:
    flock = Flock(engine=FunctionEngine(pipeline_engine))
    flock.register_type(Topic)
    flock.register_type(Idea)
    flock.agent("brainstorm").consumes(Topic).publishes(Idea, fan_out=3)
    artifact = await flock.publish(Topic(name="x"))
    assert artifact.trace_context == {}


@pytest.mark.parametrize("provider", [None, NoOpTracerProvider()])
async def test_without_a_recording_provider_outputs_keep_their_inputs_trace_context(
    provider: NoOpTracerProvider | None,
) -> None:
    traceparent = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
    store = InMemoryBlackboardStore()
    await store.append(Artifact(type="Topic", payload={"name": "x"}, correlation_id="c1", trace_context=traceparent))
    flock = Flock(store=store, engine=FunctionEngine(pipeline_engine), tracer_provider=provider)
    flock.register_type(Topic)
    flock.register_type(Idea)
    flock.agent("brainstorm").consumes(Topic).publishes(Idea, fan_out=3)
    await flock.start()
    await flock.run_until_idle()
    ideas = (await flock.store.query(ArtifactQuery(types=frozenset({"Idea"})))).items
    assert [idea.trace_context for idea in ideas] == [traceparent] * 3


async def test_traced_run_puts_a_whole_workflow_in_one_trace(exporter: InMemorySpanExporter) -> None:
    flock, provider = make_flock(exporter, FunctionEngine(lambda r: [Idea(text="i")]))
    flock.agent("ideas").consumes(Topic).publishes(Idea)
    async with flock.traced_run("pizza_workflow") as root:
        await flock.publish(Topic(name="t"))
        await flock.run_until_idle()
    provider.force_flush()
    spans = exporter.get_finished_spans()
    [workflow] = by_name(spans, "pizza_workflow")
    assert workflow.context is not None
    assert workflow.attributes == {"flock.workflow.name": "pizza_workflow"}
    assert root.get_span_context().trace_id == workflow.context.trace_id
    assert {s.context.trace_id for s in spans if s.context} == {workflow.context.trace_id}
    assert {s.name for s in spans} >= {"pizza_workflow", "publish Topic", "invoke_agent ideas"}


async def test_a_failed_activation_marks_its_workflow_span_as_an_error(exporter: InMemorySpanExporter) -> None:
    flock, provider = make_flock(exporter, ScriptedEngine({"broken": Script(RuntimeError("model down"))}))
    flock.agent("broken").consumes(Topic).publishes(Idea)
    await flock.arun(Topic(name="x"))
    provider.shutdown()
    [workflow] = by_name(exporter.get_finished_spans(), "invoke_workflow Topic")
    assert workflow.status.status_code == StatusCode.ERROR
    assert workflow.status.description == "1 failed activation; first: agent broken: RuntimeError: model down"
    assert dict(workflow.attributes or {})["error.type"] == "RuntimeError"
    assert dict(workflow.attributes or {})["flock.failed_activations"] == 1


async def test_a_circuit_breaker_trip_marks_the_activation_and_workflow_as_errors(
    exporter: InMemorySpanExporter,
) -> None:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    flock = Flock(engine=FunctionEngine(pipeline_engine), tracer_provider=provider, max_agent_iterations=1)
    flock.register_type(Idea)
    flock.register_type(Summary)
    flock.agent("summarise").consumes(Idea).publishes(Summary)
    await flock.arun(Idea(text="a"), Idea(text="b"))
    provider.shutdown()
    spans = exporter.get_finished_spans()
    assert [s.status.status_code for s in by_name(spans, "invoke_agent summarise")] == [
        StatusCode.UNSET,
        StatusCode.ERROR,
    ]
    [workflow] = by_name(spans, "invoke_workflow Idea")
    assert workflow.status.status_code == StatusCode.ERROR
    assert dict(workflow.attributes or {})["error.type"] == "CircuitBreakerTripped"


async def test_content_is_captured_when_asked_and_only_where_visibility_is_public(
    exporter: InMemorySpanExporter,
) -> None:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    flock = Flock(engine=FunctionEngine(pipeline_engine), tracer_provider=provider, trace_content=True)
    for model in (Topic, Idea):
        flock.register_type(model)
    flock.agent("brainstorm").consumes(Topic).publishes(Idea, fan_out=3)
    public = await flock.publish(Topic(name="bees"), correlation_id="w")
    secret = await flock.publish(
        Topic(name="launch codes"), correlation_id="w", visibility=PrivateVisibility(agents=frozenset({"x"}))
    )
    await flock.run_until_idle()
    provider.shutdown()
    spans = exporter.get_finished_spans()
    everything = json.dumps([dict(s.attributes or {}) for s in spans])
    assert "launch codes" not in everything  # a private payload never reaches a span
    [workflow] = by_name(spans, "invoke_workflow Topic")
    attrs = dict(workflow.attributes or {})
    assert json.loads(str(attrs["input.value"])) == [
        {"type": "Topic", "id": str(public.id), "payload": {"name": "bees"}},
        {"type": "Topic", "id": str(secret.id), "redacted": "private visibility"},
    ]
    assert attrs["input.mime_type"] == "application/json"
    [brainstorm] = by_name(spans, "invoke_agent brainstorm")  # the private topic is not visible to brainstorm
    attrs = dict(brainstorm.attributes or {})
    assert json.loads(str(attrs["input.value"])) == [
        {"type": "Topic", "id": str(public.id), "payload": {"name": "bees"}}
    ]
    outputs = json.loads(str(attrs["output.value"]))
    assert [o["payload"] for o in outputs] == [{"text": f"idea {i}"} for i in range(3)]
    assert json.loads(str(dict(workflow.attributes or {})["output.value"])) == outputs


async def test_content_capture_follows_the_standard_genai_switch(
    exporter: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    flock, provider = make_flock(exporter, FunctionEngine(pipeline_engine))
    await flock.publish(Topic(name="bees"))
    provider.shutdown()
    [publish] = by_name(exporter.get_finished_spans(), "publish Topic")
    assert json.loads(str(dict(publish.attributes or {})["input.value"]))[0]["payload"] == {"name": "bees"}


async def test_an_engine_opens_its_spans_with_the_tracer_of_its_flock(exporter: InMemorySpanExporter) -> None:
    # An engine's own spans (the DSPy engine's model calls) use `active_tracer()`: the traced Flock's
    # provider inside its activations; without any provider, the global one, which records nothing until
    # one is set (this process may have set one in another test: then it records).
    recording: list[bool] = []

    def engine(request: EvaluationRequest) -> list[BaseModel]:
        with active_tracer().start_as_current_span("engine work") as span:
            recording.append(span.is_recording())
        return [Idea(text=request.payloads[0].model_dump()["name"])]

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    for flock in (Flock(engine=FunctionEngine(engine)), Flock(engine=FunctionEngine(engine), tracer_provider=provider)):
        flock.agent("thinker").consumes(Topic).publishes(Idea)
        await flock.publish(Topic(name="cats"))
        await flock.run_until_idle()
    global_set = not isinstance(trace.get_tracer_provider(), ProxyTracerProvider)
    assert recording == [global_set, True]
    engine_spans = [s for s in exporter.get_finished_spans() if s.name == "engine work"]
    assert len(engine_spans) == 1  # the traced Flock's, under its activation
    assert engine_spans[0].parent is not None
