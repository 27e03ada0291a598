"""Every misuse a new user makes is refused where it is made, with a typed error naming what and how to fix it.

One table per moment: a `Flock(...)` option, a builder call, the checks across agents when the Flock starts,
what `run()` is given. Each row asserts the error type, that the message names the agent (where there is one)
and the argument, and that the error carries them as attributes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import BaseModel

from flock_core import ArtifactQuery, EvaluationRequest, EvaluationResult, Flock
from flock_core.exceptions import (
    AgentDeclarationError,
    ConfigurationError,
    EventLoopError,
    TypeRegistrationError,
    UserError,
)
from flock_core.testing import ScriptedEngine

pytestmark = pytest.mark.anyio


class Q(BaseModel):
    text: str


class A(BaseModel):
    text: str


@dataclasses.dataclass
class Plain:
    text: str


class SyncEngine:
    def evaluate(self, request: EvaluationRequest) -> EvaluationResult:
        return EvaluationResult([A(text="x")])


def make_flock(**options: Any) -> Flock:
    flock = Flock(**options)
    flock.register_type(Q)
    flock.register_type(A)
    return flock


def flock_with_engine() -> Flock:
    return make_flock(engine=ScriptedEngine(by_type={A: A(text="x")}))


# -- Flock(...) options: ConfigurationError naming the setting -------------------------------------------------

OPTIONS: list[tuple[str, dict[str, Any], str, str]] = [
    # id, options, the setting, a phrase of the fix
    ("max_concurrency=0 (hung)", {"max_concurrency": 0}, "max_concurrency", "int >= 1"),
    ("max_concurrency as str", {"max_concurrency": "4"}, "max_concurrency", "int >= 1"),
    ("max_agent_iterations=0", {"max_agent_iterations": 0}, "max_agent_iterations", "int >= 1"),
    ("max_attempts=0", {"max_attempts": 0}, "max_attempts", "int >= 1"),
    ("lease=0", {"lease": 0}, "lease", "must be positive"),
    ("lease as str", {"lease": "30"}, "lease", "must be positive"),
    ("engine=object()", {"engine": object()}, "engine", "async def evaluate"),
    ("engine='offline'", {"engine": "offline"}, "engine", "Flock(model='offline')"),
    ("engine=lambda", {"engine": lambda request: []}, "engine", "FunctionEngine(fn)"),  # pyright: ignore[reportUnknownLambdaType]
    ("engine=a class", {"engine": ScriptedEngine}, "engine", "pass an instance: ScriptedEngine(...)"),
    ("engine with sync evaluate", {"engine": SyncEngine()}, "engine", "declare it `async def evaluate"),
    ("model='ofline'", {"model": "ofline"}, "model", "did you mean 'offline'?"),
    ("model=123", {"model": 123}, "model", "is a string"),
    ("model without provider", {"model": "gpt-4.1-mini"}, "model", "'openai/gpt-4.1-mini'"),
    ("model=''", {"model": ""}, "model", "'provider/name'"),
    ("store=object()", {"store": object()}, "store", "BlackboardStore"),
    ("context=object()", {"context": object()}, "context", "ContextProvider"),
    ("clock=object()", {"clock": object()}, "clock", "Clock"),
]


@pytest.mark.parametrize(("options", "setting", "fix"), [row[1:] for row in OPTIONS], ids=[row[0] for row in OPTIONS])
def test_a_wrong_flock_option_fails_at_construction(options: dict[str, Any], setting: str, fix: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        Flock(**options)
    assert caught.value.setting == setting
    assert f"Flock({setting}=" in str(caught.value)
    assert fix in str(caught.value)


def test_valid_options_pass() -> None:
    flock = Flock(model="openai/gpt-4.1-mini", max_concurrency=1, max_agent_iterations=1, max_attempts=1, lease=0.5)
    assert flock.model == "openai/gpt-4.1-mini"
    assert Flock(model="offline").model == "offline"


# -- builder calls: AgentDeclarationError naming the agent and the argument ------------------------------------

Declare = Callable[[Flock], object]

DECLARATIONS: list[tuple[str, Declare, str, str]] = [
    # id, the declaration (agent "bot" unless the name is the mistake), the argument, a phrase of the fix
    ("consumes a string", lambda f: f.agent("bot").consumes("Q"), "consumes", "pass the class: consumes(Q)"),  # pyright: ignore[reportArgumentType]
    ("consumes an instance", lambda f: f.agent("bot").consumes(Q(text="x")), "consumes", "consumes(Q)"),  # pyright: ignore[reportArgumentType]
    ("consumes a list", lambda f: f.agent("bot").consumes([Q, A]), "consumes", "separate arguments"),  # pyright: ignore[reportArgumentType]
    ("consumes a dataclass", lambda f: f.agent("bot").consumes(Plain), "consumes", "not a Pydantic model"),  # pyright: ignore[reportArgumentType]
    ("publishes an instance", lambda f: f.agent("bot").publishes(A(text="x")), "publishes", "publishes(A)"),  # pyright: ignore[reportArgumentType]
    ("fan_out as str", lambda f: f.agent("bot").publishes(A, fan_out="3"), "fan_out", "write fan_out=3"),  # pyright: ignore[reportArgumentType]
    ("fan_out=True", lambda f: f.agent("bot").publishes(A, fan_out=True), "fan_out", "(min, max)"),
    ("fan_out=2.5", lambda f: f.agent("bot").publishes(A, fan_out=2.5), "fan_out", "(min, max)"),  # pyright: ignore[reportArgumentType]
    ("fan_out=(1,)", lambda f: f.agent("bot").publishes(A, fan_out=(1,)), "fan_out", "(min, max)"),  # pyright: ignore[reportArgumentType]
    (
        "visibility='private'",
        lambda f: f.agent("bot").publishes(A, visibility="private"),  # pyright: ignore[reportArgumentType]
        "visibility",
        "PrivateVisibility(agents=",
    ),
    ("visibility=3", lambda f: f.agent("bot").publishes(A, visibility=3), "visibility", "PublicVisibility()"),  # pyright: ignore[reportArgumentType]
    ("from_agents=3", lambda f: f.agent("bot").consumes(Q, from_agents=3), "from_agents", "list of names"),  # pyright: ignore[reportArgumentType]
    ("tags=['']", lambda f: f.agent("bot").consumes(Q, tags=[""]), "tags", "non-empty strings"),
    ("priority='high'", lambda f: f.agent("bot").consumes(Q, priority="high"), "priority", "takes an int"),  # pyright: ignore[reportArgumentType]
    ("batch=3", lambda f: f.agent("bot").consumes(Q, batch=3), "batch", "BatchSpec(size="),  # pyright: ignore[reportArgumentType]
    ("join=3", lambda f: f.agent("bot").consumes(Q, A, join=3), "join", "JoinSpec(by="),  # pyright: ignore[reportArgumentType]
    ("where='x'", lambda f: f.agent("bot").consumes(Q, where="x"), "where", "must be callable"),  # pyright: ignore[reportArgumentType]
    ("description=3", lambda f: f.agent("bot").description(3), "description", "takes a string"),  # pyright: ignore[reportArgumentType]
    ("max_concurrency('2')", lambda f: f.agent("bot").max_concurrency("2"), "max_concurrency", "int >= 1"),  # pyright: ignore[reportArgumentType]
    ("max_repairs(-1)", lambda f: f.agent("bot").max_repairs(-1), "max_repairs", "at least 0"),
    ("tenant(3)", lambda f: f.agent("bot").tenant(3), "tenant", "non-empty string"),  # pyright: ignore[reportArgumentType]
    ("with_engines(class)", lambda f: f.agent("bot").with_engines(ScriptedEngine), "engine", "ScriptedEngine(...)"),  # pyright: ignore[reportArgumentType]
    ("with_engines('offline')", lambda f: f.agent("bot").with_engines("offline"), "engine", "model='offline'"),  # pyright: ignore[reportArgumentType]
    ("with_engines(sync)", lambda f: f.agent("bot").with_engines(SyncEngine()), "engine", "async def evaluate"),  # pyright: ignore[reportArgumentType]
    ("with_mcps('files')", lambda f: f.agent("bot").with_mcps("files"), "with_mcps", "with_mcps(['files'])"),
]


@pytest.mark.parametrize(
    ("declare", "argument", "fix"), [row[1:] for row in DECLARATIONS], ids=[row[0] for row in DECLARATIONS]
)
def test_a_wrong_builder_argument_fails_where_it_is_given(declare: Declare, argument: str, fix: str) -> None:
    flock = flock_with_engine()
    with pytest.raises(AgentDeclarationError) as caught:
        declare(flock)
    assert (caught.value.agent, caught.value.argument) == ("bot", argument)
    assert str(caught.value).startswith("agent 'bot': ")
    assert argument in str(caught.value)
    assert fix in str(caught.value)


@pytest.mark.parametrize(
    ("name", "fix"),
    [("", "the name is empty"), ("   ", "the name is empty"), (7, "must be a string"), ("a,b", "commas")],
    ids=["empty", "blank", "int", "comma"],
)
def test_a_wrong_agent_name_fails(name: Any, fix: str) -> None:
    with pytest.raises(AgentDeclarationError) as caught:
        flock_with_engine().agent(name)
    assert caught.value.argument == "name"
    assert "name" in str(caught.value)
    assert fix in str(caught.value)


# -- checks across agents, when the Flock starts -----------------------------------------------------------------

STARTS: list[tuple[str, Declare, str, str]] = [
    ("no consumes: never runs", lambda f: f.agent("bot").publishes(A), "consumes", ".consumes(InputType)"),
    ("no publishes: engine never called", lambda f: f.agent("bot").consumes(Q), "publishes", ".publishes(OutputType)"),
    (
        "from_agents names no agent",
        lambda f: f.agent("bot").consumes(Q, from_agents="ghost").publishes(A),
        "from_agents",
        "'ghost', which is not an agent",
    ),
    (
        "an MCP server never added",
        lambda f: f.agent("bot").consumes(Q).publishes(A).with_mcps(["files"]),
        "with_mcps",
        "flock.add_mcp('files'",
    ),
]


@pytest.mark.parametrize(("declare", "argument", "fix"), [row[1:] for row in STARTS], ids=[row[0] for row in STARTS])
async def test_an_agent_that_cannot_run_fails_when_the_flock_starts(declare: Declare, argument: str, fix: str) -> None:
    flock = flock_with_engine()
    declare(flock)
    for start in (flock.start, lambda: flock.publish(Q(text="x")), flock.run_until_idle):
        with pytest.raises(AgentDeclarationError) as caught:
            await start()
        assert (caught.value.agent, caught.value.argument) == ("bot", argument)
        assert argument in str(caught.value)
        assert fix in str(caught.value)
    assert (await flock.store.query(ArtifactQuery())).total == 0  # nothing was published on a broken declaration


async def test_agents_declared_after_the_start_are_checked_before_the_next_run() -> None:
    flock = flock_with_engine()
    flock.agent("ok").consumes(Q).publishes(A)
    await flock.start()
    flock.agent("late").consumes(Q)
    with pytest.raises(AgentDeclarationError, match=r"agent 'late': it declares no \.publishes"):
        await flock.run_until_idle()


async def test_from_agents_may_name_external_and_a_timer_agent_needs_no_consumes() -> None:
    from datetime import timedelta

    flock = flock_with_engine()
    flock.agent("bot").consumes(Q, from_agents="external").publishes(A)
    flock.agent("tick").schedule(every=timedelta(hours=1), max_repeats=1).publishes(A)
    await flock.start()


# -- what run() is given, and where it is called -----------------------------------------------------------------

RUN_INPUTS: list[tuple[str, object, str]] = [
    ("a dataclass", Plain(text="x"), "declare it as a Pydantic model"),
    ("a model class", Q, "publish an instance: Q(...)"),
    ("a list", [Q(text="x")], "separate arguments"),
    ("a string", "hello", "got str 'hello'"),
]


@pytest.mark.parametrize(("obj", "fix"), [row[1:] for row in RUN_INPUTS], ids=[row[0] for row in RUN_INPUTS])
def test_run_names_what_it_cannot_publish(obj: object, fix: str) -> None:
    flock = flock_with_engine()
    flock.agent("bot").consumes(Q).publishes(A)
    with pytest.raises(TypeRegistrationError) as caught:
        flock.run(obj)  # pyright: ignore[reportArgumentType]
    assert "publish" in str(caught.value)
    assert fix in str(caught.value)


async def test_run_inside_an_event_loop_points_to_arun() -> None:
    flock = flock_with_engine()
    flock.agent("bot").consumes(Q).publishes(A)
    with pytest.raises(EventLoopError) as caught:
        flock.run(Q(text="x"))
    assert (caught.value.method, caught.value.async_method) == ("run", "arun")
    assert "await flock.arun(" in str(caught.value)
    result = await flock.arun(Q(text="x"))
    assert result.get(A) == [A(text="x")]


def test_every_misuse_error_is_a_user_error() -> None:
    assert all(issubclass(cls, UserError) for cls in (AgentDeclarationError, ConfigurationError, EventLoopError))


@pytest.mark.parametrize(
    ("options", "setting", "fix"),
    [
        ({"visibility": "private"}, "visibility", "PrivateVisibility(agents="),
        ({"correlation_id": 5}, "correlation_id", "non-empty string"),
        ({"partition_key": ""}, "partition_key", "non-empty string"),
        ({"tags": [1]}, "tags", "list of non-empty strings"),
    ],
    ids=["visibility as str", "correlation_id as int", "empty partition_key", "tags of ints"],
)
async def test_wrong_publish_options_are_refused_before_anything_is_stored(
    options: dict[str, Any], setting: str, fix: str
) -> None:
    flock = flock_with_engine()
    with pytest.raises(ConfigurationError) as caught:
        await flock.publish(Q(text="x"), **options)
    assert caught.value.setting == setting
    assert f"publish({setting}=" in str(caught.value)
    assert fix in str(caught.value)
    assert (await flock.store.query(ArtifactQuery())).total == 0


async def test_a_single_tag_may_be_a_string() -> None:
    artifact = await flock_with_engine().publish(Q(text="x"), tags="urgent")
    assert artifact.tags == frozenset({"urgent"})
