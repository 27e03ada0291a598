"""Shared helpers of the observability tests: a fan-out + gate pipeline, deterministic ids, synthetic traces."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import Link, SpanKind, Status, StatusCode
from pydantic import BaseModel

from flock_core import BlackboardStore, EvaluationRequest, EvaluationResult, Flock, Usage
from flock_core.testing import FunctionEngine
from flock_core.tracing import SQLiteSpanExporter

T0 = 1_700_000_000_000_000_000  # 2023-11-14 22:13:20 UTC, in ns
MS = 1_000_000


class Topic(BaseModel):
    name: str


class Idea(BaseModel):
    text: str


class Summary(BaseModel):
    text: str


class Verdict(BaseModel):
    ok: bool


def pipeline_engine(request: EvaluationRequest) -> EvaluationResult:
    """brainstorm: three ideas (10/5 tokens); summarise: one summary (7/3 tokens); judge: fails."""
    if request.agent.name == "brainstorm":
        return EvaluationResult([Idea(text=f"idea {i}") for i in range(3)], Usage(10, 5, 1))
    if request.agent.name == "judge":
        raise RuntimeError("model down")
    return EvaluationResult([Summary(text=" + ".join(str(p) for p in request.payloads))], Usage(7, 3, 1))


def make_flock(
    provider: TracerProvider | None = None, *, judge: bool = False, store: BlackboardStore | None = None
) -> Flock:
    """Topic -> brainstorm (fan-out 3 Ideas) -> summarise (a gate on 3 Ideas) [-> judge, which fails]."""
    flock = Flock(engine=FunctionEngine(pipeline_engine), tracer_provider=provider, store=store)
    for model in (Topic, Idea, Summary, Verdict):
        flock.register_type(model)
    flock.agent("brainstorm").consumes(Topic).publishes(Idea, fan_out=3)
    flock.agent("summarise").consumes(Idea, Idea, Idea).publishes(Summary)
    if judge:
        flock.agent("judge").consumes(Summary).publishes(Verdict)
    return flock


class SequentialIds(IdGenerator):
    """Trace ids 0x...01, 0x...02, and span ids likewise: stable snapshots."""

    def __init__(self) -> None:
        self._traces = itertools.count(1)
        self._spans = itertools.count(1)

    def generate_trace_id(self) -> int:
        return next(self._traces) * int("1" * 32, 16)

    def generate_span_id(self) -> int:
        return next(self._spans)


def file_provider(path: Path, *, ids: IdGenerator | None = None) -> TracerProvider:
    """A provider writing every span to the trace file at `path` as it ends."""
    resource = Resource({"service.name": "flock-tests"})
    provider = TracerProvider(resource=resource, id_generator=ids or SequentialIds(), shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(SQLiteSpanExporter(path)))
    return provider


@pytest.fixture
def traced_run(tmp_path: Path) -> Path:
    """A trace file holding two runs of the pipeline with the failing judge."""
    path = tmp_path / "traces.db"
    provider = file_provider(path)
    flock = make_flock(provider, judge=True)
    flock.run(Topic(name="bees"))
    flock.run(Topic(name="ants"))
    provider.shutdown()
    return path


class TraceWriter:
    """Builds spans with explicit times (ms after `base`) and ends them all, children first, on `close()`."""

    def __init__(self, provider: TracerProvider) -> None:
        self._provider = provider
        self._tracer = provider.get_tracer("flock_core")
        self._ends: list[tuple[trace.Span, int]] = []
        self.base = T0

    def span(
        self,
        name: str,
        start: float,
        end: float,
        parent: trace.Span | None = None,
        *,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: Mapping[str, str | int] | None = None,
        links: tuple[Link, ...] = (),
    ) -> trace.Span:
        context = trace.set_span_in_context(parent) if parent is not None else None
        created = self._tracer.start_span(
            name, context, kind, attributes or {}, links=links, start_time=self.base + int(start * MS)
        )
        self._ends.append((created, self.base + int(end * MS)))
        return created

    def agent(
        self, name: str, start: float, end: float, parent: trace.Span, links: tuple[Link, ...] = ()
    ) -> trace.Span:
        attributes = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": name}
        return self.span(f"invoke_agent {name}", start, end, parent, attributes=attributes, links=links)

    def chat(self, start: float, end: float, parent: trace.Span, tokens: tuple[int, int]) -> trace.Span:
        attributes: dict[str, str | int] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "gpt-test",
            "gen_ai.provider.name": "openai",
            "gen_ai.usage.input_tokens": tokens[0],
            "gen_ai.usage.output_tokens": tokens[1],
        }
        return self.span("chat gpt-test", start, end, parent, kind=SpanKind.CLIENT, attributes=attributes)

    def close(self) -> None:
        for created, end in reversed(self._ends):
            created.end(end_time=end)
        self._provider.shutdown()


def write_synthetic_traces(path: Path) -> None:
    """Two runs with fixed times and ids, with model and tool calls, a repaired contract and a failure.

    Run 1 (at T0): publish -> brainstorm (2 chats and a tool call, 120/45 tokens, a contract violation)
    -> summarise (fan-in 3; fails, reporting no usage; its chat used 80/10 tokens).
    Run 2 (at T0 + 1 s): publish -> brainstorm (1 chat, 100/40 tokens).
    """
    writer = TraceWriter(file_provider(path))
    producer = SpanKind.PRODUCER
    publish = writer.span("publish Topic", 0, 0.4, kind=producer, attributes={"gen_ai.conversation.id": "corr-1"})
    brainstorm = writer.agent("brainstorm", 1, 31, publish)
    brainstorm.set_attributes({"gen_ai.usage.input_tokens": 120, "gen_ai.usage.output_tokens": 45})
    brainstorm.add_event("flock.contract_violation", {"flock.will_repair": True}, T0 + 15 * MS)
    writer.chat(2, 14, brainstorm, (50, 20))
    tool = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search"}
    writer.span("execute_tool search", 14.5, 16, brainstorm, attributes=tool)
    writer.chat(16.5, 30, brainstorm, (70, 25))
    summarise = writer.agent("summarise", 32, 60, brainstorm, links=(Link(brainstorm.get_span_context()),) * 3)
    summarise.set_attribute("error.type", "EngineError")
    summarise.set_status(Status(StatusCode.ERROR, "model down"))
    writer.chat(33, 59, summarise, (80, 10))
    writer.close()

    writer = TraceWriter(file_provider(path, ids=_SecondRunIds()))
    writer.base = T0 + 1000 * MS
    publish = writer.span("publish Topic", 0, 0.2, kind=producer, attributes={"gen_ai.conversation.id": "corr-2"})
    brainstorm = writer.agent("brainstorm", 1, 11, publish)
    brainstorm.set_attributes({"gen_ai.usage.input_tokens": 100, "gen_ai.usage.output_tokens": 40})
    writer.chat(2, 10, brainstorm, (100, 40))
    writer.close()


class _SecondRunIds(SequentialIds):
    def __init__(self) -> None:
        super().__init__()
        self._traces = itertools.count(2)
        self._spans = itertools.count(101)
