"""Flock-style components: `EngineComponent` with `EvalInputs`/`EvalResult`, and utilities with Flock's hooks."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, Field

from flock_core import (
    AgentSpec,
    Artifact,
    ComponentContext,
    EngineComponent,
    EvalInputs,
    EvalResult,
    Flock,
    OutputGroup,
    UtilityComponent,
    WorkflowError,
    flock_type,
)
from flock_core.testing import isolated_type_registry

pytestmark = pytest.mark.anyio


class MoodPrompt(BaseModel):
    speaker: str = Field(description="Who is sharing the feeling")
    message: str


class MoodEmoji(BaseModel):
    speaker: str
    emoji: str


class Other(BaseModel):
    text: str


class EmojiEngine(EngineComponent):
    """As Flock's emoji example: read the first input, return one object."""

    async def evaluate(
        self, agent: AgentSpec, ctx: ComponentContext, inputs: EvalInputs, output_group: OutputGroup
    ) -> EvalResult:
        prompt = inputs.first_as(MoodPrompt)
        if not prompt:
            return EvalResult.empty()
        emoji = "🎉" if "promotion" in prompt.message else "🤔"
        return EvalResult.from_object(MoodEmoji(speaker=prompt.speaker, emoji=emoji), agent=agent)


async def test_an_engine_component_runs_as_flocks_example_shows() -> None:
    flock = Flock()
    (
        flock.agent("emoji_curator")
        .description("Turns short messages into emoji-coded vibes.")
        .consumes(MoodPrompt)
        .publishes(MoodEmoji)
        .with_engines(EmojiEngine())
    )
    await flock.publish(MoodPrompt(speaker="Ava", message="Just landed my dream promotion!"))
    await flock.publish(MoodPrompt(speaker="Noah", message="Yikes, the deadline is tomorrow."))
    await flock.run_until_idle()
    report = [
        (a.payload["speaker"], a.payload["emoji"]) for a in await flock.store.list() if a.produced_by == "emoji_curator"
    ]
    assert sorted(report) == [("Ava", "🎉"), ("Noah", "🤔")]


async def test_an_engine_component_returning_an_undeclared_type_fails_the_activation() -> None:
    class Wrong(EngineComponent):
        async def evaluate(
            self, agent: AgentSpec, ctx: ComponentContext, inputs: EvalInputs, output_group: OutputGroup
        ) -> EvalResult:
            return EvalResult.from_objects(Other(text="x"), agent=agent, metrics={"confidence": 1.0})

    flock = Flock()
    flock.agent("a").consumes(MoodPrompt).publishes(MoodEmoji).with_engines(Wrong())
    await flock.publish(MoodPrompt(speaker="a", message="b"))
    await flock.run_until_idle()
    [error] = await flock.store.get_by_type(WorkflowError)
    assert (error.agent, error.error_type) == ("a", "EngineError")
    assert "returned artifacts of undeclared types ['Other']" in error.message


class Recorder(UtilityComponent):
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    async def on_initialize(self, agent: AgentSpec, ctx: ComponentContext) -> None:
        self.calls.append(("initialize", agent.name))

    async def on_pre_consume(self, agent: AgentSpec, ctx: ComponentContext, inputs: list[Artifact]) -> list[Artifact]:
        ctx.state["seen"] = len(inputs)
        self.calls.append(("pre_consume", [a.type for a in inputs]))
        return inputs

    async def on_pre_evaluate(self, agent: AgentSpec, ctx: ComponentContext, inputs: EvalInputs) -> EvalInputs:
        prompt = inputs.first_as(MoodPrompt)
        assert prompt is not None
        self.calls.append(("pre_evaluate", ctx.get_variable("seen")))
        shouted = MoodPrompt(speaker=prompt.speaker, message=prompt.message.upper())
        return EvalInputs(EvalResult.from_object(shouted).artifacts, inputs.state)

    async def on_post_evaluate(
        self, agent: AgentSpec, ctx: ComponentContext, inputs: EvalInputs, result: EvalResult
    ) -> EvalResult:
        [emoji] = [MoodEmoji.model_validate(a.payload) for a in result.artifacts]
        self.calls.append(("post_evaluate", emoji.emoji))
        return EvalResult.from_object(MoodEmoji(speaker=emoji.speaker, emoji=emoji.emoji * 2), agent=agent)

    async def on_post_publish(self, agent: AgentSpec, ctx: ComponentContext, artifact: Artifact) -> None:
        self.calls.append(("post_publish", (artifact.type, ctx.correlation_id == artifact.correlation_id)))

    async def on_terminate(self, agent: AgentSpec, ctx: ComponentContext) -> None:
        self.calls.append(("terminate", agent.name))


class UpperEngine(EngineComponent):
    async def evaluate(
        self, agent: AgentSpec, ctx: ComponentContext, inputs: EvalInputs, output_group: OutputGroup
    ) -> EvalResult:
        [prompt] = inputs.all_as(MoodPrompt)
        return EvalResult.from_object(MoodEmoji(speaker=prompt.speaker, emoji=prompt.message[:2]), agent=agent)


async def test_utility_components_get_flocks_hook_signatures() -> None:
    recorder = Recorder()
    flock = Flock()
    flock.agent("a").consumes(MoodPrompt).publishes(MoodEmoji).with_engines(UpperEngine()).with_utilities(recorder)
    await flock.publish(MoodPrompt(speaker="a", message="hi"))
    await flock.run_until_idle()
    await flock.shutdown()
    assert recorder.calls == [
        ("initialize", "a"),
        ("pre_consume", ["MoodPrompt"]),
        ("pre_evaluate", 1),
        ("post_evaluate", "HI"),
        ("post_publish", ("MoodEmoji", True)),
        ("terminate", "a"),
    ]
    assert await flock.store.get_by_type(MoodEmoji) == [MoodEmoji(speaker="a", emoji="HIHI")]


async def test_a_flock_type_with_an_explicit_name_travels_through_eval_results() -> None:
    with isolated_type_registry():

        @flock_type(name="mood.Emoji")
        class NamedEmoji(BaseModel):
            emoji: str

        class Named(EngineComponent):
            async def evaluate(
                self, agent: AgentSpec, ctx: ComponentContext, inputs: EvalInputs, output_group: OutputGroup
            ) -> EvalResult:
                return EvalResult.from_object(NamedEmoji(emoji="x"), agent=agent)

        flock = Flock()
        flock.agent("a").consumes(MoodPrompt).publishes(NamedEmoji).with_engines(Named())
        await flock.publish(MoodPrompt(speaker="a", message="b"))
        await flock.run_until_idle()
        assert [a.type for a in await flock.store.list()] == ["MoodPrompt", "mood.Emoji"]
