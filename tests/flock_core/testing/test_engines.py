"""Tests of `flock_core.testing._engines`: the scripted and function engines."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from flock_core import (
    AgentSpec,
    Artifact,
    EvaluationRequest,
    EvaluationResult,
    FanOut,
    OutputGroup,
    Usage,
)
from flock_core.exceptions import EngineError
from flock_core.testing import FunctionEngine, Script, ScriptedEngine

pytestmark = pytest.mark.anyio


class Idea(BaseModel):
    text: str


class Score(BaseModel):
    value: int


def request(
    agent: str = "writer", *models: type[BaseModel], fan_out: FanOut | None = None, attempt: int = 0
) -> EvaluationRequest:
    models = models or (Idea,)
    group = OutputGroup(types=tuple(m.__name__ for m in models), models=models, fan_out=fan_out or FanOut())
    source = Artifact(type="Idea", payload={"text": "in"}, correlation_id="c1")
    return EvaluationRequest(
        agent=AgentSpec(name=agent, output_groups=(group,)),
        group=group,
        group_index=0,
        inputs=(source,),
        payloads=(Idea(text="in"),),
        attempt=attempt,
    )


async def test_by_agent_list_is_returned_on_every_call() -> None:
    engine = ScriptedEngine({"writer": [Idea(text="a"), Idea(text="b")]})
    first, second = await engine.evaluate(request()), await engine.evaluate(request())
    assert first == second == EvaluationResult([Idea(text="a"), Idea(text="b")])


async def test_a_script_gives_successive_replies_and_repeats_the_last() -> None:
    engine = ScriptedEngine({"writer": Script([Idea(text="1")], [Idea(text="2")], [])})
    results = [await engine.evaluate(request()) for _ in range(4)]
    assert results == [
        EvaluationResult([Idea(text="1")]),
        EvaluationResult([Idea(text="2")]),
        EvaluationResult([]),
        EvaluationResult([]),
    ]


async def test_an_exception_reply_is_raised() -> None:
    boom = EngineError("writer", "rate limited")
    engine = ScriptedEngine({"writer": Script(boom, [Idea(text="ok")])})
    with pytest.raises(EngineError) as caught:
        await engine.evaluate(request())
    assert caught.value is boom
    assert await engine.evaluate(request()) == EvaluationResult([Idea(text="ok")])


async def test_scripts_count_calls_per_agent() -> None:
    engine = ScriptedEngine(
        {"a": Script([Idea(text="a1")], [Idea(text="a2")]), "b": Script([Idea(text="b1")], [Idea(text="b2")])}
    )
    replies = [await engine.evaluate(request(agent)) for agent in ("a", "b", "a", "b")]
    assert [r.outputs for r in replies] == [[Idea(text="a1")], [Idea(text="b1")], [Idea(text="a2")], [Idea(text="b2")]]


async def test_by_type_fills_fan_out_low_copies_per_type() -> None:
    engine = ScriptedEngine(by_type={Idea: Idea(text="x"), Score: Score(value=3)})
    assert engine.by_type_names == ("Idea", "Score")
    result = await engine.evaluate(request("writer", Idea, Score, fan_out=FanOut(2, 5)))
    assert result == EvaluationResult([Idea(text="x"), Idea(text="x"), Score(value=3), Score(value=3)])


async def test_by_type_with_an_optional_fan_out_returns_one() -> None:
    engine = ScriptedEngine(by_type={Idea: Idea(text="x")})
    assert await engine.evaluate(request("writer", fan_out=FanOut(0, 3))) == EvaluationResult([Idea(text="x")])


async def test_by_agent_wins_over_by_type() -> None:
    engine = ScriptedEngine({"writer": [Idea(text="agent")]}, by_type={Idea: Idea(text="type")})
    assert await engine.evaluate(request()) == EvaluationResult([Idea(text="agent")])
    assert await engine.evaluate(request("other")) == EvaluationResult([Idea(text="type")])


async def test_a_missing_reply_names_the_agent_and_the_types() -> None:
    engine = ScriptedEngine(by_type={Idea: Idea(text="x")})
    with pytest.raises(EngineError) as caught:
        await engine.evaluate(request("critic", Idea, Score))
    assert caught.value.agent == "critic"
    assert str(caught.value) == "agent 'critic': ScriptedEngine has no reply for agent 'critic' or types ['Score']"


async def test_requests_are_recorded_in_order() -> None:
    engine = ScriptedEngine(by_type={Idea: Idea(text="x")})
    sent = [request("a"), request("b", attempt=1), request("a")]
    for item in sent:
        await engine.evaluate(item)
    assert engine.requests == sent


async def test_a_failed_request_is_recorded_too() -> None:
    engine = ScriptedEngine()
    sent = request()
    with pytest.raises(EngineError):
        await engine.evaluate(sent)
    assert engine.requests == [sent]


async def test_function_engine_with_a_sync_function() -> None:
    def answer(req: EvaluationRequest) -> list[BaseModel]:
        return [Idea(text=f"{req.agent.name}:{len(req.inputs)}")]

    assert await FunctionEngine(answer).evaluate(request()) == EvaluationResult([Idea(text="writer:1")])


async def test_function_engine_with_an_async_function() -> None:
    async def answer(req: EvaluationRequest) -> list[BaseModel]:
        return [Score(value=req.attempt)]

    assert await FunctionEngine(answer).evaluate(request(attempt=2)) == EvaluationResult([Score(value=2)])


async def test_function_engine_returning_a_result_with_usage() -> None:
    def answer(req: EvaluationRequest) -> EvaluationResult:
        return EvaluationResult([Idea(text="x")], usage=Usage(input_tokens=10, output_tokens=3, calls=1))

    assert await FunctionEngine(answer).evaluate(request()) == EvaluationResult(
        [Idea(text="x")], usage=Usage(input_tokens=10, output_tokens=3, calls=1)
    )


async def test_function_engine_with_an_async_function_returning_a_result() -> None:
    async def answer(req: EvaluationRequest) -> EvaluationResult:
        return EvaluationResult((Idea(text="x"),), usage=Usage(calls=2))

    result = await FunctionEngine(answer).evaluate(request())
    assert (list(result.outputs), result.usage) == ([Idea(text="x")], Usage(0, 0, 2))


async def test_function_engine_propagates_errors() -> None:
    def answer(req: EvaluationRequest) -> list[BaseModel]:
        raise RuntimeError("nope")

    with pytest.raises(RuntimeError, match="nope"):
        await FunctionEngine(answer).evaluate(request())


async def test_a_generator_result_is_materialised() -> None:
    def answer(req: EvaluationRequest) -> tuple[BaseModel, ...]:
        return tuple(Idea(text=str(i)) for i in range(2))

    assert await FunctionEngine(answer).evaluate(request()) == EvaluationResult([Idea(text="0"), Idea(text="1")])
