"""Budgets at the model call, over the real HTTP path: no request over budget ever reaches the server."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pydantic import BaseModel

from engines import DSPyEngine
from engines._prices import price_of
from flock_core import Budget, Flock, Usage, WorkflowError
from flock_core.testing import FakeOpenAIServer

pytestmark = pytest.mark.anyio

ChatReply = Callable[..., str]


class Question(BaseModel):
    text: str


class Answer(BaseModel):
    text: str


class Rebuttal(BaseModel):
    text: str


def engine(server: FakeOpenAIServer, model: str = "openai/gpt-4.1-mini", **options: Any) -> DSPyEngine:
    return DSPyEngine(model, api_base=server.base_url, api_key="sk-fake", num_retries=0, **options)


def debate(flock_engine: DSPyEngine, **options: Any) -> Flock:
    """Two agents answering each other for ever: only a budget (or the loop guard) ends it."""
    flock = Flock(engine=flock_engine, max_agent_iterations=10, **options)
    flock.agent("pro").consumes(Question).consumes(Rebuttal).publishes(Answer)
    flock.agent("con").consumes(Answer).publishes(Rebuttal)
    return flock


def replies(chat_reply: ChatReply) -> Callable[[Any], str]:
    """Every reply carries both agents' fields; each agent's adapter reads its own."""
    return lambda request: chat_reply(answer={"text": "yes"}, rebuttal={"text": "no"})


def step(chat_reply: ChatReply, tool: str) -> str:
    return chat_reply(next_thought=f"use {tool}", next_tool_name=tool, next_tool_args={})


async def errors(flock: Flock, correlation_id: str) -> list[WorkflowError]:
    return await flock.get_by_type(WorkflowError, correlation_id=correlation_id)


async def test_a_tool_loop_is_stopped_mid_activation_before_the_call_over_budget(chat_reply: ChatReply) -> None:
    def lookup() -> str:
        """Look something up."""
        return "found"

    script = [step(chat_reply, "lookup")] * 5 + [chat_reply(reasoning="done", answer=Answer(text="42"))]
    with FakeOpenAIServer(replies=script) as server:
        flock = Flock(engine=engine(server, tools=[lookup], tool_calling="text"))
        flock.agent("researcher").consumes(Question).publishes(Answer)
        published = await flock.publish(Question(text="?"), budget=Budget(max_calls=3))
        await flock.run_until_idle()
        assert len(server.requests) == 3  # the fourth step was refused before it was sent
    status = await flock.get_correlation_status(published.correlation_id)
    assert status.state == "cancelled"
    assert status.budget is not None
    assert status.budget.spent.calls == 3
    assert status.budget.spent.input_tokens > 0
    price = price_of("openai/gpt-4.1-mini")
    assert price is not None
    spent = status.budget.spent
    assert spent.cost == pytest.approx(price.cost(Usage(spent.input_tokens, spent.output_tokens)))
    assert status.budget.remaining == {"max_calls": 0}
    assert status.usage == status.budget.spent  # the refused activation's three calls are counted
    [error] = await errors(flock, published.correlation_id)
    assert error.error_type == "BudgetExceeded"
    assert "max_calls=3 reached" in error.message


async def test_a_cost_budget_stops_a_debate_and_other_workflows_keep_running(chat_reply: ChatReply) -> None:
    with FakeOpenAIServer(responder=replies(chat_reply)) as server:
        flock = debate(engine(server))
        limited = await flock.publish(Question(text="cats?"), budget=Budget(max_cost=0.0005))
        await flock.run_until_idle()
        limited_requests = len(server.requests)
        free = await flock.publish(Question(text="dogs?"))
        await flock.run_until_idle()
    status = await flock.get_correlation_status(limited.correlation_id)
    assert status.budget is not None
    assert status.budget.exceeded is not None
    spent = status.budget.spent
    assert spent.calls == limited_requests
    assert spent.cost >= 0.0005
    per_call = spent.cost / spent.calls
    assert spent.cost - per_call < 0.0005  # the call that crossed the limit was the last one sent
    assert status.state == "cancelled"
    other = await flock.get_correlation_status(free.correlation_id)
    assert other.state == "failed"  # the loop guard, not the other workflow's budget, stopped it
    assert other.usage.calls == 20
    assert [e.error_type for e in await errors(flock, free.correlation_id)] == ["CircuitBreakerTripped"]


async def test_the_flocks_budget_bounds_all_workflows_together(chat_reply: ChatReply) -> None:
    with FakeOpenAIServer(responder=replies(chat_reply)) as server:
        flock = debate(engine(server), budget=Budget(max_calls=5))
        first = await flock.publish(Question(text="cats?"))
        second = await flock.publish(Question(text="dogs?"))
        await flock.run_until_idle()
        assert len(server.requests) == 5
    for published in (first, second):
        status = await flock.get_correlation_status(published.correlation_id)
        assert status.state == "cancelled"
        assert status.flock_budget is not None
        assert status.flock_budget.spent.calls == 5
        assert status.flock_budget.exceeded is not None
        assert [e.error_type for e in await errors(flock, published.correlation_id)] == ["BudgetExceeded"]


async def test_a_model_without_a_price_is_not_called_under_a_cost_budget(chat_reply: ChatReply) -> None:
    with FakeOpenAIServer(replies=[chat_reply(answer=Answer(text="x"))]) as server:
        flock = Flock(engine=engine(server, model="openai/no-such-model-anywhere"))
        flock.agent("answerer").consumes(Question).publishes(Answer)
        published = await flock.publish(Question(text="?"), budget=Budget(max_cost=1.0))
        await flock.run_until_idle()
        assert server.requests == []
    [error] = await errors(flock, published.correlation_id)
    assert error.error_type == "ConfigurationError"
    assert "has no price in LiteLLM's bundled price map" in error.message
