"""Information flow: outputs inherit what the activation read; a declared visibility narrows; declassify widens."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic import BaseModel

from flock_core import (
    AfterVisibility,
    Artifact,
    ArtifactQuery,
    DeclassifiedVisibility,
    EvaluationRequest,
    Flock,
    LabelledVisibility,
    PrivateVisibility,
    PublicVisibility,
    TenantVisibility,
    Visibility,
)
from flock_core.agents._flow import output_visibility, read_visibility
from flock_core.exceptions import AgentDeclarationError
from flock_core.testing import FunctionEngine

pytestmark = pytest.mark.anyio

ACME = TenantVisibility(tenant_id="acme")
HIGH = LabelledVisibility(required_labels=frozenset({"high"}), tenant="acme")


class Case(BaseModel):
    text: str


class Summary(BaseModel):
    text: str


def artifact(visibility: Visibility) -> Artifact:
    return Artifact(type="Case", payload={"text": "x"}, correlation_id="c", visibility=visibility)


@pytest.mark.parametrize(
    ("read", "expected"),
    [
        pytest.param([], PublicVisibility(), id="nothing-read"),
        pytest.param([PublicVisibility(), PublicVisibility()], PublicVisibility(), id="public"),
        pytest.param([ACME, PublicVisibility()], ACME, id="tenant-input"),
        pytest.param([ACME, HIGH], HIGH, id="labelled-context"),
        pytest.param([AfterVisibility(ttl=timedelta(hours=1), then=ACME)], ACME, id="delay-already-passed"),
    ],
)
def test_read_visibility(read: list[Visibility], expected: Visibility) -> None:
    assert read_visibility([artifact(v) for v in read]) == expected


def test_a_declared_visibility_only_narrows() -> None:
    mine = PrivateVisibility(agents=frozenset({"alice"}), tenant="acme")
    assert output_visibility(ACME, None) == ACME
    assert output_visibility(ACME, PublicVisibility()) == ACME  # asking for public does not widen
    assert output_visibility(ACME, mine) == mine
    assert output_visibility(PublicVisibility(), HIGH) == HIGH


def test_declassification_widens_by_name_only_when_needed() -> None:
    assert output_visibility(ACME, PublicVisibility(), "anonymised") == DeclassifiedVisibility(
        name="anonymised", then=PublicVisibility()
    )
    assert output_visibility(HIGH, ACME, "cleared") == DeclassifiedVisibility(name="cleared", then=ACME)
    assert output_visibility(ACME, ACME, "not-needed") == ACME


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    yield exporter
    exporter.shutdown()


def make_flock(exporter: InMemorySpanExporter) -> Flock:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    flock = Flock(engine=FunctionEngine(lambda r: [Summary(text="summary")]), tracer_provider=provider)
    flock.register_type(Case)
    flock.register_type(Summary)
    return flock


async def test_outputs_follow_inputs_and_context(exporter: InMemorySpanExporter) -> None:
    flock = make_flock(exporter)
    flock.agent("summarizer").tenant("acme").labels("high").consumes(Case).publishes(Summary)
    await flock.publish(Case(text="context"), visibility=HIGH, correlation_id="wf")
    await flock.publish(Case(text="input"), visibility=ACME, correlation_id="wf")
    await flock.run_until_idle()
    summaries = (await flock.store.query(ArtifactQuery(types=frozenset({"Summary"})))).items
    assert [s.visibility for s in summaries] == [HIGH, HIGH]  # the second activation read the first as context


async def test_declassification_is_recorded_on_the_artifact_and_the_span(exporter: InMemorySpanExporter) -> None:
    flock = make_flock(exporter)
    flock.agent("publisher").tenant("acme").consumes(Case).publishes(
        Summary, visibility=PublicVisibility(), declassify="press-release"
    )
    await flock.publish(Case(text="internal"), visibility=ACME)
    await flock.run_until_idle()
    [summary] = (await flock.store.query(ArtifactQuery(types=frozenset({"Summary"})))).items
    assert summary.visibility == DeclassifiedVisibility(name="press-release", then=PublicVisibility())
    [span] = [s for s in exporter.get_finished_spans() if s.name == "invoke_agent publisher"]
    assert [(e.name, dict(e.attributes or {})) for e in span.events] == [
        (
            "flock.declassified",
            {"flock.output_group": 0, "flock.declassification": "press-release", "flock.type": "Summary"},
        )
    ]


def test_declassify_needs_a_name_and_a_visibility(exporter: InMemorySpanExporter) -> None:
    flock = make_flock(exporter)
    with pytest.raises(AgentDeclarationError, match="declassify= needs a non-empty name and the visibility="):
        flock.agent("a").consumes(Case).publishes(Summary, declassify="release")
    with pytest.raises(AgentDeclarationError, match="declassify= needs a non-empty name"):
        flock.agent("b").consumes(Case).publishes(Summary, visibility=PublicVisibility(), declassify=" ")


async def test_a_workflow_error_is_visible_only_to_whoever_could_see_what_was_read(
    exporter: InMemorySpanExporter,
) -> None:
    def fail_quoting_context(request: EvaluationRequest) -> list[BaseModel]:
        raise RuntimeError(f"could not use {[a.payload for a in request.context]}")

    flock = make_flock(exporter)
    flock.agent("fragile").tenant("acme").consumes(Case).publishes(Summary).with_engines(
        FunctionEngine(fail_quoting_context)
    )
    await flock.publish(Summary(text="acme secret"), visibility=ACME, correlation_id="wf")
    await flock.publish(Case(text="public input"), correlation_id="wf")
    await flock.run_until_idle()
    [error] = (await flock.store.query(ArtifactQuery(types=frozenset({"WorkflowError"})))).items
    assert "acme secret" in error.payload["message"]
    assert error.visibility == ACME  # the public input alone would have made it public
