"""Tests of `flock_core.agents._builder.AgentBuilder`: the fluent builder and the frozen `AgentSpec` it produces."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from pydantic import BaseModel

from flock_core import (
    AgentComponent,
    AgentIdentity,
    AgentSpec,
    BestOf,
    EvaluationRequest,
    EvaluationResult,
    FanOut,
    Flock,
    OutputGroup,
    PrivateVisibility,
    PublicVisibility,
    Subscription,
)
from flock_core.exceptions import AgentDeclarationError, DuplicateAgentError
from flock_core.testing import ScriptedEngine


class Idea(BaseModel):
    text: str


class Draft(BaseModel):
    text: str


class Review(BaseModel):
    score: int


class Unregistered(BaseModel):
    text: str


@pytest.fixture
def flock() -> Flock:
    flock = Flock(engine=ScriptedEngine())
    for model in (Idea, Draft, Review):
        flock.register_type(model)
    return flock


def is_long(payload: Any) -> bool:
    return len(payload.text) > 3


def is_short(payload: Any) -> bool:
    return len(payload.text) < 100


def test_a_new_agent_has_the_default_spec(flock: Flock) -> None:
    builder = flock.agent("writer")
    assert builder.name == "writer"
    assert builder.spec == AgentSpec(
        name="writer",
        description=None,
        subscriptions=(),
        output_groups=(),
        engine=None,
        components=(),
        tools=(),
        labels=frozenset(),
        tenant=None,
        max_concurrency=None,
        prevent_self_trigger=True,
        best_of=None,
        max_repairs=1,
    )
    assert flock.agents["writer"] is builder.spec


def test_every_call_refreshes_the_flock_spec(flock: Flock) -> None:
    builder = flock.agent("writer").description("Writes drafts.")
    assert builder.spec == AgentSpec(name="writer", description="Writes drafts.")
    assert flock.agents["writer"] is builder.spec


def test_consumes_and_publishes(flock: Flock) -> None:
    spec = flock.agent("writer").consumes(Idea).publishes(Draft).spec
    assert spec == AgentSpec(
        name="writer",
        subscriptions=(Subscription(types=("Idea",), models=(Idea,)),),
        output_groups=(OutputGroup(types=("Draft",), models=(Draft,), fan_out=FanOut(1)),),
    )
    assert spec.consumed_types == frozenset({"Idea"})


def test_two_consumes_calls_are_alternatives(flock: Flock) -> None:
    spec = flock.agent("a").consumes(Idea).consumes(Draft).spec
    assert spec.subscriptions == (
        Subscription(types=("Idea",), models=(Idea,)),
        Subscription(types=("Draft",), models=(Draft,)),
    )
    assert [(dict(s.required), s.is_gate) for s in spec.subscriptions] == [({"Idea": 1}, False), ({"Draft": 1}, False)]
    assert spec.consumed_types == frozenset({"Idea", "Draft"})


def test_two_types_in_one_call_are_an_and_gate(flock: Flock) -> None:
    (subscription,) = flock.agent("a").consumes(Idea, Draft).spec.subscriptions
    assert subscription == Subscription(types=("Idea", "Draft"), models=(Idea, Draft))
    assert (dict(subscription.required), subscription.is_gate) == ({"Idea": 1, "Draft": 1}, True)


def test_a_repeated_type_is_a_count_gate(flock: Flock) -> None:
    (subscription,) = flock.agent("a").consumes(Review, Review, Review, Idea).spec.subscriptions
    assert subscription.types == ("Review", "Review", "Review", "Idea")
    assert (dict(subscription.required), subscription.is_gate) == ({"Review": 3, "Idea": 1}, True)


def test_consumes_filters(flock: Flock) -> None:
    spec = flock.agent("a").consumes(Idea, where=is_long, from_agents="planner", tags="urgent", priority=5).spec
    assert spec.subscriptions == (
        Subscription(
            types=("Idea",),
            models=(Idea,),
            where=(is_long,),
            from_agents=frozenset({"planner"}),
            tags=frozenset({"urgent"}),
            priority=5,
        ),
    )


def test_consumes_filters_as_lists(flock: Flock) -> None:
    spec = (
        flock.agent("a")
        .consumes(Idea, where=[is_long, is_short], from_agents=["planner", "editor"], tags=["urgent", "red"])
        .spec
    )
    assert spec.subscriptions == (
        Subscription(
            types=("Idea",),
            models=(Idea,),
            where=(is_long, is_short),
            from_agents=frozenset({"planner", "editor"}),
            tags=frozenset({"urgent", "red"}),
        ),
    )


def test_consumes_needs_a_type(flock: Flock) -> None:
    with pytest.raises(AgentDeclarationError) as caught:
        flock.agent("a").consumes()
    assert (caught.value.agent, caught.value.problem) == ("a", "consumes() needs at least one type")


def test_a_non_callable_where(flock: Flock) -> None:
    with pytest.raises(AgentDeclarationError, match="where= must be callable, got 'text'"):
        flock.agent("a").consumes(Idea, where="text")  # pyright: ignore[reportArgumentType]


@pytest.mark.parametrize("call", ["consumes", "publishes"])
def test_a_type_used_in_a_declaration_is_registered_under_its_class_name(flock: Flock, call: str) -> None:
    builder = getattr(flock.agent("writer"), call)(Idea, Unregistered)
    assert flock.registry.resolve("Unregistered") is Unregistered
    declared = builder.spec.subscriptions if call == "consumes" else builder.spec.output_groups
    assert declared[0].types == ("Idea", "Unregistered")


@pytest.mark.parametrize("call", ["consumes", "publishes"])
def test_a_name_clash_names_the_agent_and_both_classes(flock: Flock, call: str) -> None:
    clash = type("Unregistered", (BaseModel,), {"__module__": "other.module", "__qualname__": "Unregistered"})
    flock.agent("reader").consumes(Unregistered)
    builder = flock.agent("writer")
    with pytest.raises(AgentDeclarationError) as caught:
        getattr(builder, call)(clash)
    assert caught.value.agent == "writer"
    assert str(caught.value) == (
        f"agent 'writer': {call}(): type name 'Unregistered' is taken by "
        f"{__name__}.Unregistered; other.module.Unregistered cannot also use it: "
        "rename one class or give it @flock_type(name=...)"
    )
    assert builder.spec == AgentSpec(name="writer")
    assert flock.registry.resolve("Unregistered") is Unregistered


def test_a_redefined_class_with_the_same_qualified_name_is_a_clash_too(flock: Flock) -> None:
    def define() -> type[BaseModel]:
        class Note(BaseModel):
            text: str

        return Note

    first, second = define(), define()
    flock.agent("a").consumes(first)
    with pytest.raises(AgentDeclarationError, match="type name 'Note' is taken by"):
        flock.agent("b").consumes(second)


def test_a_non_model_type_in_a_declaration(flock: Flock) -> None:
    with pytest.raises(AgentDeclarationError, match="is not a Pydantic model"):
        flock.agent("a").consumes(dict)  # pyright: ignore[reportArgumentType]


@pytest.mark.parametrize(
    ("fan_out", "expected"),
    [
        pytest.param(None, FanOut(1, None), id="default"),
        pytest.param(1, FanOut(1, None), id="one"),
        pytest.param(4, FanOut(4, None), id="exact"),
        pytest.param((2, 5), FanOut(2, 5), id="range"),
        pytest.param((0, 3), FanOut(0, 3), id="optional"),
        pytest.param((3, 3), FanOut(3, 3), id="degenerate-range"),
    ],
)
def test_publishes_fan_out(flock: Flock, fan_out: int | tuple[int, int] | None, expected: FanOut) -> None:
    (group,) = flock.agent("a").publishes(Idea, fan_out=fan_out).spec.output_groups
    assert group.fan_out == expected


@pytest.mark.parametrize(
    ("fan_out", "problem"),
    [
        pytest.param(0, "fan_out must be at least 1, got 0", id="zero"),
        pytest.param(-2, "fan_out must be at least 1, got -2", id="negative"),
        pytest.param((3, 1), "fan_out range must satisfy 0 <= min <= max and max >= 1, got (3, 1)", id="inverted"),
        pytest.param((0, 0), "fan_out range must satisfy 0 <= min <= max and max >= 1, got (0, 0)", id="empty"),
        pytest.param((-1, 2), "fan_out range must satisfy 0 <= min <= max and max >= 1, got (-1, 2)", id="below-0"),
    ],
)
def test_publishes_invalid_fan_out(flock: Flock, fan_out: int | tuple[int, int], problem: str) -> None:
    with pytest.raises(AgentDeclarationError) as caught:
        flock.agent("brainstorm").publishes(Idea, fan_out=fan_out)
    assert (caught.value.agent, caught.value.problem) == ("brainstorm", problem)
    assert str(caught.value) == f"agent 'brainstorm': {problem}"


def test_publishes_every_option(flock: Flock) -> None:
    private = PrivateVisibility(agents=frozenset({"editor"}))
    spec = (
        flock.agent("a")
        .publishes(Idea, Draft, fan_out=2, visibility=private, where=is_short, description="Two of each.")
        .spec
    )
    assert spec.output_groups == (
        OutputGroup(
            types=("Idea", "Draft"),
            models=(Idea, Draft),
            fan_out=FanOut(2),
            visibility=private,
            where=(is_short,),
            validate=(),
            description="Two of each.",
        ),
    )


def test_each_publishes_call_is_one_output_group(flock: Flock) -> None:
    spec = flock.agent("a").publishes(Idea).publishes(Draft, Review).spec
    assert [group.types for group in spec.output_groups] == [("Idea",), ("Draft", "Review")]


def test_a_visibility_callable_is_kept_as_is(flock: Flock) -> None:
    def choose(payload: Any) -> PublicVisibility:
        return PublicVisibility()

    (group,) = flock.agent("a").publishes(Idea, visibility=choose).spec.output_groups
    assert group.visibility is choose


def test_validate_as_a_callable_is_named_after_it(flock: Flock) -> None:
    (group,) = flock.agent("a").publishes(Idea, validate=is_long).spec.output_groups
    assert group.validate == ((is_long, "is_long"),)


def test_validate_as_a_lambda(flock: Flock) -> None:
    rule = lambda payload: True  # noqa: E731
    (group,) = flock.agent("a").publishes(Idea, validate=rule).spec.output_groups
    assert group.validate == ((rule, "<lambda>"),)


def test_validate_as_a_rule_and_message_pair(flock: Flock) -> None:
    (group,) = flock.agent("a").publishes(Idea, validate=(is_long, "too short")).spec.output_groups
    assert group.validate == ((is_long, "too short"),)


def test_validate_as_a_list(flock: Flock) -> None:
    (group,) = flock.agent("a").publishes(Idea, validate=[is_long, (is_short, "too long")]).spec.output_groups
    assert group.validate == ((is_long, "is_long"), (is_short, "too long"))


def test_validate_as_a_tuple_of_two_rules(flock: Flock) -> None:
    (group,) = flock.agent("a").publishes(Idea, validate=(is_long, is_short)).spec.output_groups
    assert group.validate == ((is_long, "is_long"), (is_short, "is_short"))


def test_a_non_callable_validate_rule(flock: Flock) -> None:
    with pytest.raises(AgentDeclarationError, match="validate= must be callable, got 3"):
        flock.agent("a").publishes(Idea, validate=[(3, "three")])  # pyright: ignore[reportArgumentType]


def test_with_one_engine(flock: Flock) -> None:
    engine = ScriptedEngine()
    assert flock.agent("a").with_engines(engine).spec.engine is engine


@pytest.mark.parametrize("count", [0, 2])
def test_with_engines_takes_exactly_one(flock: Flock, count: int) -> None:
    with pytest.raises(AgentDeclarationError) as caught:
        flock.agent("a").with_engines(*[ScriptedEngine() for _ in range(count)])
    assert caught.value.problem == f"with_engines() takes exactly one engine, got {count}"


def test_with_engines_rejects_a_non_engine(flock: Flock) -> None:
    with pytest.raises(AgentDeclarationError, match=r"is not an engine: it needs a method `async def evaluate"):
        flock.agent("a").with_engines(object())  # pyright: ignore[reportArgumentType]


def test_an_object_with_an_evaluate_method_is_an_engine(flock: Flock) -> None:
    class Custom:
        async def evaluate(self, request: EvaluationRequest) -> EvaluationResult:
            return EvaluationResult()

    engine = Custom()
    assert flock.agent("a").with_engines(engine).spec.engine is engine


class _Component(AgentComponent):
    def __init__(self, priority: int) -> None:
        self.priority = priority


def test_with_components_sorted_by_priority(flock: Flock) -> None:
    high, low, middle, also_low = _Component(10), _Component(-1), _Component(5), _Component(-1)
    spec = flock.agent("a").with_components(high, low).with_components(middle, also_low).spec
    assert spec.components == (low, also_low, middle, high)


def test_with_components_rejects_a_non_component(flock: Flock) -> None:
    with pytest.raises(AgentDeclarationError, match="is not an AgentComponent"):
        flock.agent("a").with_components(object())  # pyright: ignore[reportArgumentType]


def search(query: str) -> str:
    return query


def fetch(url: str) -> str:
    return url


def summarise(text: str) -> str:
    return text


def test_with_tools_as_varargs_and_as_a_list(flock: Flock) -> None:
    spec = flock.agent("a").with_tools(search, fetch).with_tools([summarise]).spec
    assert spec.tools == (search, fetch, summarise)


def test_with_tools_rejects_a_non_callable(flock: Flock) -> None:
    with pytest.raises(AgentDeclarationError) as caught:
        flock.agent("a").with_tools(search, "web")  # pyright: ignore[reportArgumentType]
    assert caught.value.problem == "tools must be callable, got 'web'"


def test_labels_tenant_and_identity(flock: Flock) -> None:
    spec = flock.agent("a").labels("clearance:high").labels("team:red", "clearance:high").tenant("acme").spec
    assert (spec.labels, spec.tenant) == (frozenset({"clearance:high", "team:red"}), "acme")
    assert spec.identity == AgentIdentity("a", labels=frozenset({"clearance:high", "team:red"}), tenant="acme")


def test_max_concurrency(flock: Flock) -> None:
    assert flock.agent("a").max_concurrency(3).spec.max_concurrency == 3


@pytest.mark.parametrize("n", [0, -1])
def test_max_concurrency_below_one(flock: Flock, n: int) -> None:
    with pytest.raises(AgentDeclarationError) as caught:
        flock.agent("a").max_concurrency(n)
    assert (caught.value.agent, caught.value.problem) == ("a", f"max_concurrency must be at least 1, got {n}")


def test_prevent_self_trigger(flock: Flock) -> None:
    builder = flock.agent("a")
    assert builder.spec.prevent_self_trigger is True
    assert builder.prevent_self_trigger(False).spec.prevent_self_trigger is False
    assert builder.prevent_self_trigger().spec.prevent_self_trigger is True


def test_best_of(flock: Flock) -> None:
    def score(outputs: list[BaseModel]) -> float:
        return float(len(outputs))

    assert flock.agent("a").best_of(3, score).spec.best_of == BestOf(3, score)
    with pytest.raises(AgentDeclarationError, match="best_of must be at least 1, got 0"):
        flock.agent("b").best_of(0, score)


def test_max_repairs(flock: Flock) -> None:
    assert flock.agent("a").max_repairs(0).spec.max_repairs == 0
    assert flock.agent("b").max_repairs(3).spec.max_repairs == 3
    with pytest.raises(AgentDeclarationError, match="max_repairs must be at least 0, got -1"):
        flock.agent("c").max_repairs(-1)


def test_a_duplicate_agent_name(flock: Flock) -> None:
    flock.agent("writer")
    with pytest.raises(DuplicateAgentError) as caught:
        flock.agent("writer")
    assert (caught.value.agent, str(caught.value)) == (
        "writer",
        "agent 'writer': an agent with this name is already declared in this Flock",
    )
    assert isinstance(caught.value, AgentDeclarationError)


def test_the_same_name_in_two_flocks_is_fine() -> None:
    assert Flock(engine=ScriptedEngine()).agent("a").spec == Flock(engine=ScriptedEngine()).agent("a").spec


def test_a_full_declaration(flock: Flock) -> None:
    engine = ScriptedEngine()
    component = _Component(1)
    private = PrivateVisibility(agents=frozenset({"editor"}))
    spec = (
        flock.agent("writer")
        .description("Turns ideas into drafts.")
        .consumes(Idea, where=is_long, priority=2)
        .publishes(Draft, fan_out=(1, 3), visibility=private, validate=(is_short, "too long"))
        .with_engines(engine)
        .with_components(component)
        .with_tools(search)
        .labels("team:red")
        .tenant("acme")
        .max_concurrency(2)
        .prevent_self_trigger(False)
        .max_repairs(2)
        .spec
    )
    assert spec == AgentSpec(
        name="writer",
        description="Turns ideas into drafts.",
        subscriptions=(Subscription(types=("Idea",), models=(Idea,), where=(is_long,), priority=2),),
        output_groups=(
            OutputGroup(
                types=("Draft",),
                models=(Draft,),
                fan_out=FanOut(1, 3),
                visibility=private,
                validate=((is_short, "too long"),),
            ),
        ),
        engine=engine,
        components=(component,),
        tools=(search,),
        labels=frozenset({"team:red"}),
        tenant="acme",
        max_concurrency=2,
        prevent_self_trigger=False,
        best_of=None,
        max_repairs=2,
    )


def test_the_spec_is_frozen(flock: Flock) -> None:
    spec = flock.agent("a").consumes(Idea).publishes(Draft).spec
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.name = "b"  # pyright: ignore[reportAttributeAccessIssue]
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.subscriptions[0].priority = 3  # pyright: ignore[reportAttributeAccessIssue]
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.output_groups[0].fan_out.low = 3  # pyright: ignore[reportAttributeAccessIssue]


def test_builder_calls_return_new_specs_and_leave_old_ones_alone(flock: Flock) -> None:
    builder = flock.agent("a")
    before = builder.spec
    after = builder.consumes(Idea).spec
    assert (before.subscriptions, len(after.subscriptions)) == ((), 1)
    assert before is not after


def test_an_identity_follows_a_replaced_spec(flock: Flock) -> None:
    spec = flock.agent("a").labels("team:red").spec
    moved = dataclasses.replace(spec, name="b", tenant="acme")
    assert moved.identity == AgentIdentity("b", labels=frozenset({"team:red"}), tenant="acme")
    assert spec.identity == AgentIdentity("a", labels=frozenset({"team:red"}))
