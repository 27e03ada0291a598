"""Cost budgets: each model call priced for its model, and the money a model server would charge for the calls
it served never exceeds `Budget(max_cost=...)`, on a branching workflow and across a resume."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest

from engines import Budget, Price, price_of, simulated_responder
from engines._meter import CallMeter
from flock_core import Usage
from flock_core.exceptions import ConfigurationError
from flock_core.testing import ChatRequest, FakeOpenAIServer

from .branching import optimize

PRICE = Price(input=2e-06, output=8e-06)
PRICES = {"openai/simulated": PRICE}


class BillingServer:
    """The simulated model behind a fake OpenAI server that bills each call as the server reports its usage."""

    def __init__(self) -> None:
        self.billed = 0.0

    def __call__(self, request: ChatRequest) -> str:
        reply = simulated_responder(request)
        tokens = Usage(math.ceil(request.prompt_chars / 4), math.ceil(len(reply) / 4), 1)
        self.billed += PRICE.cost(tokens)
        return reply


@pytest.mark.anyio
@pytest.mark.parametrize("max_cost", [0.0, 0.002, 0.01, 0.03])
async def test_a_branching_workflow_never_costs_more_than_the_budget(max_cost: float) -> None:
    billing = BillingServer()
    with FakeOpenAIServer(billing) as server:
        calls, stop = await optimize(server.base_url, None, None, budget=Budget(max_cost=max_cost, prices=PRICES))
        served = len(server.requests)
    assert billing.billed <= max_cost
    assert calls == served
    assert stop == "budget"
    assert served > 0 or max_cost == 0.0


@pytest.mark.anyio
async def test_a_resumed_optimization_spends_only_what_the_first_left(tmp_path: Path) -> None:
    billing, budget = BillingServer(), Budget(max_cost=0.01, prices=PRICES)
    with FakeOpenAIServer(billing) as server:
        await optimize(server.base_url, tmp_path, None, budget=budget)
        first = billing.billed
        _, stop = await optimize(server.base_url, tmp_path, None, budget=budget)
    assert 0 < first <= billing.billed <= 0.01
    assert stop == "budget"


@pytest.mark.anyio
async def test_a_model_without_a_price_is_refused_with_a_clear_error() -> None:
    with FakeOpenAIServer(simulated_responder) as server:
        with pytest.raises(ConfigurationError, match=r"cannot price model\(s\) \['openai/simulated'\]"):
            await optimize(server.base_url, None, None, budget=Budget(max_cost=1.0))
        assert server.requests == []


def test_prices_come_from_litellms_bundled_map_without_importing_litellm() -> None:
    price = price_of("openai/gpt-4.1-mini")
    assert price is not None
    assert 0 < price.input < price.output
    assert price_of("gpt-4.1-mini") == price
    script = "import sys; from engines import price_of; price_of('gpt-4.1-mini'); print('litellm' in sys.modules)"
    imported = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60)
    assert imported.stdout.strip() == "False"  # importing it would try to download the map


def test_a_call_cut_short_by_a_kill_counts_as_the_costliest_call(tmp_path: Path) -> None:
    journal = tmp_path / "spending.jsonl"
    meter = CallMeter(max_cost=1.0, prices=PRICES, journal=journal)
    assert meter.acquire(1, model="openai/simulated")
    meter.settle(1, Usage(1000, 100, 1), model="openai/simulated")
    assert meter.acquire(1, model="openai/simulated")  # never settled: the process "dies" here
    meter.close()
    assert CallMeter.cost_in(journal) == pytest.approx(2 * PRICE.cost(Usage(1000, 100, 1)))


def test_budget_rejects_a_price_that_is_not_a_price() -> None:
    with pytest.raises(ConfigurationError, match=r"Budget.prices\['m'\] must be an engines.Price"):
        Budget(max_cost=1.0, prices={"m": 0.5})  # type: ignore[dict-item]
