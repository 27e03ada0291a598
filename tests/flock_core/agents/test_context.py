"""Context providers: correlation-scoped by default, visibility always applied."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import pytest
from pydantic import BaseModel

from flock_core import (
    Artifact,
    ArtifactQuery,
    ContextRequest,
    CorrelationContext,
    EvaluationRequest,
    FilterConfig,
    FilteredContext,
    FilteredContextProvider,
    Flock,
    InMemoryBlackboardStore,
    NoContext,
    PrivateVisibility,
    RecentContext,
)
from flock_core.agents._context import TURN_TAG
from flock_core.agents._spec import AgentSpec
from flock_core.exceptions import ConfigurationError
from flock_core.testing import FunctionEngine

pytestmark = pytest.mark.anyio


class Note(BaseModel):
    text: str


class Question(BaseModel):
    text: str


class Answer(BaseModel):
    seen: list[str]


def make_flock(**options: object) -> Flock:
    def engine(request: EvaluationRequest) -> list[BaseModel]:
        return [Answer(seen=sorted(str(a.payload.get("text")) for a in request.context))]

    flock = Flock(engine=FunctionEngine(engine), **options)  # type: ignore[arg-type]
    for model in (Note, Question, Answer):
        flock.register_type(model)
    return flock


async def seed(flock: Flock) -> None:
    await flock.publish(Note(text="other workflow"), correlation_id="old")
    await flock.publish(Note(text="mine"), correlation_id="cid")
    await flock.publish(
        Note(text="secret"), correlation_id="cid", visibility=PrivateVisibility(agents=frozenset({"x"}))
    )
    await flock.publish(Note(text="tagged"), correlation_id="old", tags={"kb"})


async def answers(flock: Flock) -> list[list[str]]:
    return [a.seen for a in await flock.store.get_by_type(Answer)]


async def test_default_context_is_own_workflow_and_visible_only() -> None:
    flock = make_flock()
    flock.agent("a").consumes(Question).publishes(Answer)
    await seed(flock)
    await flock.publish(Question(text="q"), correlation_id="cid")
    await flock.run_until_idle()
    assert await answers(flock) == [["mine"]]


async def test_no_context() -> None:
    flock = make_flock(context=NoContext())
    flock.agent("a").consumes(Question).publishes(Answer)
    await seed(flock)
    await flock.publish(Question(text="q"), correlation_id="cid")
    await flock.run_until_idle()
    assert await answers(flock) == [[]]


async def test_recent_across_workflows_and_filtered_by_tag() -> None:
    flock = make_flock()
    flock.agent("recent").consumes(Question).publishes(Answer).with_context(RecentContext(n=2))
    flock.agent("kb").consumes(Question).publishes(Answer).with_context(
        FilteredContext(tags=frozenset({"kb"}), same_workflow=False)
    )
    await seed(flock)
    await flock.publish(Question(text="q"), correlation_id="cid")
    await flock.run_until_idle()
    assert sorted(await answers(flock)) == [["mine", "tagged"], ["tagged"]]


async def test_custom_provider_cannot_widen_visibility() -> None:
    class Greedy:
        async def provide(self, request: ContextRequest) -> Sequence[Artifact]:
            return (await request.store.query(ArtifactQuery())).items

    flock = make_flock()
    flock.agent("a").consumes(Question).publishes(Answer).with_context(Greedy())
    await seed(flock)
    await flock.publish(Question(text="q"), correlation_id="cid")
    await flock.run_until_idle()
    [seen] = await answers(flock)
    assert "secret" not in seen
    assert seen == ["mine", "other workflow", "tagged"]


async def test_flocks_filtered_context_provider_reads_the_board_with_visibility() -> None:
    flock = make_flock(context_provider=FilteredContextProvider(FilterConfig(type_names={"Note"}), limit=10))
    builder = flock.agent("a").consumes(Question).publishes(Answer)
    await seed(flock)
    await flock.publish(Question(text="q"), correlation_id="cid")
    await flock.run_until_idle()
    assert await answers(flock) == [["mine", "other workflow", "tagged"]]  # never "secret"
    assert builder.agent.context_provider is None


async def test_agent_context_provider_assignment_declares_the_agents_provider() -> None:
    flock = make_flock()
    builder = flock.agent("a").consumes(Question).publishes(Answer)
    provider = FilteredContextProvider(FilterConfig(tags={"kb"}, correlation_id="old"))
    builder.agent.context_provider = provider
    assert (builder.agent.name, builder.agent.context_provider, flock.agents["a"].context) == ("a", provider, provider)
    await seed(flock)
    await flock.publish(Question(text="q"), correlation_id="cid")
    await flock.run_until_idle()
    assert await answers(flock) == [["tagged"]]


def test_filter_config_is_a_query_and_bad_settings_fail() -> None:
    since = datetime(2026, 1, 1, tzinfo=UTC)
    config = FilterConfig(type_names=["Note"], produced_by="writer", tags={"kb"}, start=since)
    assert config.query() == ArtifactQuery(
        types=frozenset({"Note"}), produced_by=frozenset({"writer"}), tags=frozenset({"kb"}), since=since
    )
    with pytest.raises(ConfigurationError, match="must be >= 0, got -1"):
        FilteredContextProvider(config, limit=-1)
    with pytest.raises(ConfigurationError, match="not both"):
        Flock(context=NoContext(), context_provider=NoContext())


async def test_correlation_context_is_the_current_turn_around_the_inputs_without_them() -> None:
    store = InMemoryBlackboardStore()
    board = [
        Artifact(type="Note", payload={"text": text}, correlation_id="c", tags=frozenset(tags))
        for text, tags in [("turn 1", {TURN_TAG}), ("reply 1", set()), ("turn 2", {TURN_TAG}), ("input", set())]
    ]
    board.append(Artifact(type="Note", payload={"text": "later"}, correlation_id="c"))
    board.append(Artifact(type="Note", payload={"text": "next turn"}, correlation_id="c", tags=frozenset({TURN_TAG})))
    for artifact in board:
        await store.append(artifact)
    now = datetime.now(UTC)

    def texts(found: Sequence[Artifact]) -> list[str]:
        return [str(a.payload["text"]) for a in found]

    request = ContextRequest(store, AgentSpec(name="a"), (board[3],), now)
    assert texts(await CorrelationContext().provide(request)) == ["turn 2", "later", "next turn"]
    assert texts(await CorrelationContext(limit=1).provide(request)) == ["next turn"]
    assert texts(await CorrelationContext(limit=0).provide(request)) == []
    first_turn = ContextRequest(store, AgentSpec(name="a"), (board[1],), now)
    assert texts(await CorrelationContext().provide(first_turn)) == ["turn 1", "turn 2", "input", "later", "next turn"]
    absent = Artifact(type="Note", payload={}, correlation_id="c")
    elsewhere = ContextRequest(store, AgentSpec(name="a"), (absent,), now)
    assert texts(await CorrelationContext().provide(elsewhere)) == ["next turn"]  # an input not on the board
