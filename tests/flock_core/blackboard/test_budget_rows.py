"""Workflow budgets in every store (the shared contract): set, spent atomically, read back, replaced."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import anyio
import pytest

from flock_core import BlackboardStore, Budget, StoredBudget, Usage, WorkflowBudgets

from .test_store import STORE_FACTORIES, StoreFactory, make_store

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 1, 1, 12, 30, tzinfo=UTC)


@pytest.fixture(params=STORE_FACTORIES)
async def store(request: pytest.FixtureRequest) -> AsyncIterator[BlackboardStore]:
    factory: StoreFactory = request.param
    made = await make_store(factory)
    yield made
    await made.close()


async def test_a_budget_is_stored_with_its_start_and_spending(store: BlackboardStore) -> None:
    assert isinstance(store, WorkflowBudgets)
    assert await store.workflow_budget("wf") is None
    await store.save_budget("wf", Budget(max_calls=10, max_cost=1.5, max_wall_time=60), T0)
    await store.add_spending("wf", Usage(100, 20, 1, 0.25))
    await store.add_spending("wf", Usage(50, 10, 2, 0.125))
    await store.add_spending("no-budget", Usage(1, 1, 1, 1.0))  # only workflows with a budget are kept
    expected = StoredBudget(Budget(max_calls=10, max_cost=1.5, max_wall_time=60), T0, Usage(150, 30, 3, 0.375))
    assert await store.workflow_budget("wf") == expected
    assert await store.workflow_budgets() == {"wf": expected}
    assert await store.workflow_budget("no-budget") is None


async def test_a_new_budget_keeps_the_start_and_the_spending(store: BlackboardStore) -> None:
    assert isinstance(store, WorkflowBudgets)
    await store.save_budget("wf", Budget(max_calls=1), T0)
    await store.add_spending("wf", Usage(10, 1, 1))
    await store.save_budget("wf", Budget(max_tokens=500), datetime(2030, 1, 1, tzinfo=UTC))
    assert await store.workflow_budget("wf") == StoredBudget(Budget(max_tokens=500), T0, Usage(10, 1, 1))


async def test_concurrent_spending_adds_up(store: BlackboardStore) -> None:
    assert isinstance(store, WorkflowBudgets)
    await store.save_budget("wf", Budget(max_calls=100), T0)
    async with anyio.create_task_group() as group:
        for _ in range(20):
            group.start_soon(store.add_spending, "wf", Usage(3, 2, 1, 0.5))
    stored = await store.workflow_budget("wf")
    assert stored is not None
    assert stored.spent == Usage(60, 40, 20, 10.0)
