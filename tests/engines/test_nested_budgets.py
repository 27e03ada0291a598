"""Budgets flow into nested workflows: inner model calls are held to the outer budgets, over the real HTTP path.

The server counts the requests it received: never one more than the tightest budget allows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pydantic import BaseModel

from engines import DSPyEngine
from flock_core import Budget, Flock, WorkflowError
from flock_core.testing import FakeOpenAIServer

pytestmark = pytest.mark.anyio

ChatReply = Callable[..., str]


class Claim(BaseModel):
    text: str


class Evidence(BaseModel):
    claim: str
    found: bool


class Verdict(BaseModel):
    claim: str
    supported: bool


def fact_checker(server: FakeOpenAIServer, **options: Any) -> Flock:
    """The inner workflow: two model calls per claim (look_up, then judge), on the fake server."""
    engine = DSPyEngine("openai/gpt-4.1-mini", api_base=server.base_url, api_key="sk-fake", num_retries=0)
    inner = Flock(engine=engine, **options)
    for model in (Claim, Evidence, Verdict):
        inner.register_type(model)
    inner.agent("look_up").consumes(Claim).publishes(Evidence)
    inner.agent("judge").consumes(Evidence).publishes(Verdict)
    return inner


def research(inner: Flock, **options: Any) -> Flock:
    outer = Flock(**options)
    outer.register_type(Claim)
    outer.agent("fact_check").consumes(Claim).publishes(Verdict).runs(inner)
    return outer


def replies(chat_reply: ChatReply) -> Callable[[Any], str]:
    """Every reply carries both inner agents' fields; each agent's adapter reads its own."""
    return lambda request: chat_reply(evidence={"claim": "c", "found": True}, verdict={"claim": "c", "supported": True})


async def publish_claims(outer: Flock, count: int, **options: Any) -> str:
    """A fan-out of `count` claims in one outer workflow: their inner runs go concurrently."""
    for n in range(count):
        await outer.publish(Claim(text=f"claim {n}"), correlation_id="research", **options)
    return "research"


async def test_the_outer_workflows_budget_bounds_the_inner_calls_exactly(chat_reply: ChatReply) -> None:
    with FakeOpenAIServer(responder=replies(chat_reply), latency=0.02) as server:
        outer = research(fact_checker(server))
        cid = await publish_claims(outer, 3, budget=Budget(max_calls=3))  # the inner runs would make 6
        await outer.run_until_idle()
        assert len(server.requests) == 3
    status = await outer.get_correlation_status(cid)
    assert status.state == "cancelled"
    assert status.budget is not None
    assert status.budget.spent.calls == 3
    assert status.budget.exceeded is not None
    assert status.budget.exceeded.name == "max_calls"
    [error] = await outer.get_by_type(WorkflowError, correlation_id=cid)
    assert error.error_type == "BudgetExceeded"
    assert "max_calls=3 reached" in error.message


async def test_the_outer_flocks_budget_bounds_the_inner_calls(chat_reply: ChatReply) -> None:
    with FakeOpenAIServer(responder=replies(chat_reply), latency=0.02) as server:
        outer = research(fact_checker(server), budget=Budget(max_calls=5))
        cid = await publish_claims(outer, 4)
        await outer.run_until_idle()
        assert len(server.requests) == 5
    status = await outer.get_correlation_status(cid)
    assert status.state == "cancelled"
    assert status.flock_budget is not None
    assert status.flock_budget.spent.calls == 5
    assert [e.error_type for e in await outer.get_by_type(WorkflowError, correlation_id=cid)] == ["BudgetExceeded"]


async def test_within_the_budget_the_inner_calls_are_charged_to_the_outer_workflow(chat_reply: ChatReply) -> None:
    with FakeOpenAIServer(responder=replies(chat_reply)) as server:
        outer = research(fact_checker(server))
        cid = await publish_claims(outer, 2, budget=Budget(max_calls=10))
        await outer.run_until_idle()
        assert len(server.requests) == 4
    status = await outer.get_correlation_status(cid)
    assert status.state == "completed"
    assert status.budget is not None
    assert status.budget.spent.calls == status.usage.calls == 4  # charged once, not again when settled
    assert status.budget.spent.input_tokens > 0
    assert status.budget.remaining == {"max_calls": 6}
    assert len(await outer.get_by_type(Verdict, correlation_id=cid)) == 2


async def test_the_inner_flocks_own_budget_applies_when_it_is_tighter(chat_reply: ChatReply) -> None:
    with FakeOpenAIServer(responder=replies(chat_reply), latency=0.02) as server:
        outer = research(fact_checker(server, budget=Budget(max_calls=1)))
        cid = await publish_claims(outer, 2, budget=Budget(max_calls=10))
        await outer.run_until_idle()
        assert len(server.requests) == 1
    status = await outer.get_correlation_status(cid)
    assert status.budget is not None
    assert status.budget.spent.calls == 1
    errors = await outer.get_by_type(WorkflowError, correlation_id=cid)
    assert {e.error_type for e in errors} == {"EngineError"}  # the inner Flock's budget is the inner run's failure
    assert all("the Flock's budget is spent" in e.message for e in errors)
