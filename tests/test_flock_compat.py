"""Flock (`flock-core` 0.5) code runs here by changing its imports: the patterns of Flock's own examples.

Each test follows one of Flock's published examples call for call (their structure and API, in our own
words and types), with `from flock import ...` replaced by `from flock_core import ...`, on the offline
model chosen through Flock's `DEFAULT_MODEL` variable: no key and no network. The examples' `@flock_type`
decorators are left out here because a module-level registration would outlive this module's tests; the
types register with each `Flock` when its agents declare them.
"""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import timedelta

import pytest
from pydantic import BaseModel, Field

from engines import DSPyEngine
from flock_core import (
    AgentSpec,
    ComponentContext,
    EngineComponent,
    EvalInputs,
    EvalResult,
    FilterConfig,
    FilteredContextProvider,
    Flock,
    OutputGroup,
    Until,
    When,
    flock_tool,
)
from flock_core.testing import VirtualClock

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def _offline_default_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """Flock reads `DEFAULT_MODEL`; so do we (after our own `FLOCK_MODEL`)."""
    monkeypatch.delenv("FLOCK_MODEL", raising=False)
    monkeypatch.setenv("DEFAULT_MODEL", "offline")


# -- getting started: undecorated types, a pipeline, reading the board with store.list() -------------


class Order(BaseModel):
    dish: str = Field(description="What the guest asked for")


class Recipe(BaseModel):
    title: str
    steps: list[str] = Field(description="Numbered cooking steps")


class Review(BaseModel):
    score: int = Field(ge=1, le=10)
    comment: str


async def test_getting_started_pipeline_with_plain_pydantic_types() -> None:
    flock = Flock()  # the model comes from DEFAULT_MODEL
    flock.agent("chef").description("Writes a recipe for the order.").consumes(Order).publishes(Recipe)
    flock.agent("critic").description("Reviews a recipe.").consumes(Recipe).publishes(Review)
    await flock.publish(Order(dish="margherita"))
    await flock.run_until_idle()
    produced = Counter((a.type, a.produced_by) for a in await flock.store.list())
    assert produced == {("Order", "external"): 1, ("Recipe", "chef"): 1, ("Review", "critic"): 1}
    [review] = await flock.store.get_by_type(Review)
    assert 1 <= review.score <= 10


# -- workflow conditions: Until, run_until's boolean and its "timeout reached" branch -----------------


class ResearchQuestion(BaseModel):
    topic: str


class Hypothesis(BaseModel):
    content: str
    confidence: float = Field(ge=0, le=1)


async def test_workflow_conditions_with_until() -> None:
    flock = Flock()
    flock.agent("hypothesis_generator").description("Generates hypotheses.").consumes(ResearchQuestion).publishes(
        Hypothesis, fan_out=5
    )
    cid = str(uuid.uuid4())
    await flock.publish(ResearchQuestion(topic="northern lights"), correlation_id=cid)
    success = await flock.run_until(Until.artifact_count(Hypothesis, correlation_id=cid).at_least(3), timeout=60.0)
    assert success
    assert len(await flock.store.get_by_type(Hypothesis, correlation_id=cid)) == 5

    cid2 = str(uuid.uuid4())
    await flock.publish(ResearchQuestion(topic="blue sky"), correlation_id=cid2)
    impossible = Until.any_field(
        Hypothesis, field="confidence", predicate=lambda v: v is not None and v > 1, correlation_id=cid2
    )
    composite = Until.artifact_count(Hypothesis, correlation_id=cid2).at_least(6) | impossible
    assert await flock.run_until(composite, timeout=60.0) is False  # the example's "not met" branch runs


# -- activation conditions: When.correlation(...) on consumes ----------------------------------------


class CodeSubmission(BaseModel):
    filename: str
    code: str


class SecurityReport(BaseModel):
    filename: str
    passed: bool


class StyleReport(BaseModel):
    filename: str
    passed: bool


class FinalReview(BaseModel):
    filename: str
    approved: bool


async def test_activation_conditions_with_when() -> None:
    flock = Flock()
    flock.agent("security_analyzer").consumes(CodeSubmission).publishes(SecurityReport)
    flock.agent("style_analyzer").consumes(CodeSubmission).publishes(StyleReport)
    flock.agent("final_reviewer").consumes(
        SecurityReport,
        activation=When.correlation(SecurityReport).exists() & When.correlation(StyleReport).exists(),
    ).publishes(FinalReview)
    cid = str(uuid.uuid4())
    await flock.publish(CodeSubmission(filename="auth.py", code="def login(): ..."), correlation_id=cid)
    await flock.run_until_idle()
    assert len(await flock.store.get_by_type(FinalReview, correlation_id=cid)) == 1


# -- context providers: a global FilteredContextProvider and a per-agent one -------------------------


class Note(BaseModel):
    text: str


class Summary(BaseModel):
    text: str


async def test_context_providers_global_and_per_agent() -> None:
    seen: dict[str, list[str]] = {}

    class Recorder(EngineComponent):
        async def evaluate(
            self, agent: AgentSpec, ctx: ComponentContext, inputs: EvalInputs, output_group: OutputGroup
        ) -> EvalResult:
            seen[agent.name] = sorted(a.payload["text"] for a in ctx.artifacts)
            return EvalResult.from_object(Summary(text="done"), agent=agent)

    flock = Flock(context_provider=FilteredContextProvider(FilterConfig(tags={"important"}), limit=10))
    flock.agent("global_view").consumes(Note, tags={"go"}).publishes(Summary).with_engines(Recorder())
    scoped = flock.agent("scoped_view").consumes(Note, tags={"go"}).publishes(Summary).with_engines(Recorder())
    scoped.agent.context_provider = FilteredContextProvider(FilterConfig(tags={"urgent"}))
    await flock.publish(Note(text="important one"), tags={"important"})
    await flock.publish(Note(text="urgent one"), tags={"urgent"})
    await flock.publish(Note(text="trigger"), tags={"go"})
    await flock.run_until_idle()
    assert seen == {"global_view": ["important one"], "scoped_view": ["urgent one"]}


# -- scheduling: a timer agent for the length of a timed run_until_idle ------------------------------


class HealthStatus(BaseModel):
    healthy: bool


async def test_timer_agent_runs_until_the_timeout() -> None:
    @flock_tool
    def cpu_percent() -> float:
        """The current CPU load in percent."""
        return 12.5

    flock = Flock(clock=VirtualClock())
    (
        flock.agent("health_monitor")
        .description("Monitors system health")
        .schedule(every=timedelta(seconds=30), after=timedelta(0))
        .publishes(HealthStatus)
        .with_tools([cpu_percent])
        .with_engines(DSPyEngine())
    )
    await flock.run_until_idle(timeout=120)
    assert len(await flock.store.get_by_type(HealthStatus)) == 4  # ticks at 0, 30, 60 and 90 s
