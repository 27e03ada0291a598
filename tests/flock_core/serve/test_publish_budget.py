"""A budget given with `POST /api/v1/artifacts`: validated, and the model calls stop at it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import BaseModel

from flock_core import EvaluationRequest, EvaluationResult, Flock, Usage
from flock_core.serve import create_app
from flock_core.serve._schemas import Error, WorkflowStatus
from flock_core.testing import FunctionEngine

from .conftest import KEYS, client_for, key

pytestmark = pytest.mark.anyio


class Argument(BaseModel):
    text: str
    round: int = 0


def priced_answer(request: EvaluationRequest) -> EvaluationResult:
    """A stand-in for a model: each call costs 120 input and 30 output tokens and a fifth of a cent."""
    argument = request.payloads[0]
    assert isinstance(argument, Argument)
    reply = Argument(text=request.agent.name, round=argument.round + 1)
    return EvaluationResult([reply], usage=Usage(input_tokens=120, output_tokens=30, calls=1, cost=0.002))


@pytest.fixture
def flock() -> Flock:
    """Two agents answering each other until something stops them."""
    flock = Flock(engine=FunctionEngine(priced_answer))
    flock.register_type(Argument)
    flock.agent("pro").consumes(Argument, where=lambda a: a.round % 2 == 0).publishes(Argument)
    flock.agent("con").consumes(Argument, where=lambda a: a.round % 2 == 1).publishes(Argument)
    return flock


@pytest.fixture
async def keyed(flock: Flock) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(create_app(flock, auth=KEYS)) as http:
        yield http


def debate(**budget: object) -> dict[str, object]:
    return {"type": "Argument", "payload": {"text": "start"}, "budget": budget}


async def test_the_model_calls_stop_at_the_budget_and_the_status_shows_what_is_left(
    keyed: httpx.AsyncClient, flock: Flock
) -> None:
    published = await keyed.post("/api/v1/artifacts", json=debate(max_calls=3, max_cost=1), headers=key("admin"))
    assert published.status_code == 201
    cid = published.json()["correlation_id"]
    await flock.run_until_idle()
    assert len(await flock.get_by_type(Argument, correlation_id=cid)) == 4  # the start and three answers

    status = WorkflowStatus.model_validate(
        (await keyed.get(f"/api/v1/correlations/{cid}", headers=key("admin"))).json()
    )
    assert status.state == "cancelled"
    assert status.usage is not None
    assert (status.usage.calls, status.usage.input_tokens, status.usage.output_tokens) == (3, 360, 90)
    assert status.budget is not None
    assert status.budget.limit == {"max_calls": 3, "max_cost": 1}
    assert status.budget.remaining == {"max_calls": 0, "max_cost": pytest.approx(0.994)}
    assert status.budget.exceeded is not None
    assert (status.budget.exceeded.name, status.budget.exceeded.spent) == ("max_calls", 3)


async def test_a_cost_budget_stops_a_workflow_and_leaves_the_others(keyed: httpx.AsyncClient, flock: Flock) -> None:
    capped = await keyed.post("/api/v1/artifacts", json=debate(max_cost=0.005), headers=key("admin"))
    tokens = await keyed.post("/api/v1/artifacts", json=debate(max_output_tokens=60), headers=key("admin"))
    await flock.run_until_idle()
    capped_status = (await flock.get_correlation_status(capped.json()["correlation_id"])).budget
    tokens_status = (await flock.get_correlation_status(tokens.json()["correlation_id"])).budget
    assert capped_status is not None
    assert tokens_status is not None
    assert capped_status.spent.calls == 3  # $0.004 after two calls: a third; at $0.006 no fourth
    assert tokens_status.spent.calls == 2  # 60 output tokens after two calls: no third


@pytest.mark.parametrize(
    ("budget", "field"),
    [
        ({"max_calls": -1}, "budget.max_calls"),
        ({"max_calls": 2.5}, "budget.max_calls"),
        ({"max_calls": "3"}, "budget.max_calls"),
        ({"max_tokens": True}, "budget.max_tokens"),
        ({"max_cost": -0.5}, "budget.max_cost"),
        ({"max_wall_time": "soon"}, "budget.max_wall_time"),
        ({"max_money": 3}, "budget.max_money"),
    ],
)
async def test_an_invalid_budget_is_a_422_naming_the_field(
    keyed: httpx.AsyncClient, flock: Flock, budget: dict[str, object], field: str
) -> None:
    response = await keyed.post("/api/v1/artifacts", json=debate(**budget), headers=key("admin"))
    assert response.status_code == 422
    error = Error.model_validate(response.json())
    assert [d.field for d in error.error.details] == [field]
    assert await flock.get_by_type(Argument) == []


async def test_a_budget_is_set_when_a_workflow_starts_not_by_joining_it(keyed: httpx.AsyncClient, flock: Flock) -> None:
    started = await keyed.post("/api/v1/artifacts", json=debate(max_calls=1), headers=key("admin"))
    cid = started.json()["correlation_id"]
    joined = await keyed.post(
        "/api/v1/artifacts", json={**debate(max_calls=1000), "correlation_id": cid}, headers=key("admin")
    )
    assert joined.status_code == 422
    assert [d.field for d in Error.model_validate(joined.json()).error.details] == ["budget"]
    await flock.run_until_idle()
    budget = (await flock.get_correlation_status(cid)).budget
    assert budget is not None
    assert (budget.limit.max_calls, budget.spent.calls) == (1, 1)
