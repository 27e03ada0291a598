"""Budgets are checked before runs start, from what the runs so far cost."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from engines import Budget
from engines._learning._budget import Spending, first_run_estimate
from flock_core import Flock, Usage
from flock_core.exceptions import ConfigurationError
from flock_core.testing import FunctionEngine


def test_runs_are_admitted_while_their_estimate_fits() -> None:
    spending = Spending(Budget(max_calls=10), Usage())
    assert spending.admit("run", 8, first_estimate=4) == 1  # the first run starts alone
    spending.record("run", Usage(100, 20, 2))
    assert spending.admit("run", 8) == 4  # 8 calls left, 2 per run
    spending.record("run", Usage(100, 20, 3))
    assert spending.admit("run", 8) == 1  # 5 left, the costliest run took 3
    assert spending.admit("proposal", 8) == 1  # each kind has its own estimate
    spending.record("run", Usage(1, 1, 3))
    assert spending.admit("run", 8) == 0
    assert spending.spent == Usage(201, 41, 8)


def test_the_first_run_is_refused_when_its_estimate_does_not_fit() -> None:
    assert Spending(Budget(max_calls=3), Usage()).admit("run", 1, first_estimate=4) == 0
    assert Spending(Budget(max_calls=3), Usage(0, 0, 3)).admit("run", 5) == 0


def test_tokens_and_no_budget() -> None:
    spending = Spending(Budget(max_tokens=1000), Usage())
    assert spending.admit("run", 5) == 1
    spending.record("run", Usage(300, 100, 1))
    assert spending.admit("run", 5) == 1  # 600 tokens left, 400 per run
    assert Spending(None, Usage()).admit("run", 5) == 5
    resumed = Spending(Budget(max_calls=10), Usage(0, 0, 4), {"run": Usage(0, 0, 2)})
    assert resumed.admit("run", 8) == 3
    with pytest.raises(ConfigurationError):
        Budget(max_calls=-1)


class A(BaseModel):
    x: int


class B(BaseModel):
    x: int


class C(BaseModel):
    x: int


def test_the_first_estimate_counts_the_output_groups_the_inputs_reach() -> None:
    flock = Flock(engine=FunctionEngine(lambda request: []))
    for model in (A, B, C):
        flock.register_type(model)
    flock.agent("ab").consumes(A).publishes(B).publishes(C)
    flock.agent("bc").consumes(B).publishes(C)
    flock.agent("loop").consumes(C).publishes(A)
    flock.agent("other").consumes(C, C).publishes(B)
    assert first_run_estimate(flock.agents, [A(x=1)]) == 5
    assert first_run_estimate(flock.agents, [B(x=1)]) == 5  # every agent is reachable from B too
    assert first_run_estimate({}, [A(x=1)]) == 0
