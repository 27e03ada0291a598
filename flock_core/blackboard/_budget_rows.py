"""How the SQL stores write a workflow's budget and spending, and read them back."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from .._budget import Budget
from .._usage import Usage
from ._store import StoredBudget

__all__ = ["budget_json", "stored_budget", "usage_row"]


def budget_json(budget: Budget) -> str:
    """The budget's limits as a JSON object.

    >>> budget_json(Budget(max_calls=3, max_cost=0.5))
    '{"max_calls": 3, "max_cost": 0.5}'
    """
    return json.dumps(budget.limits())


def usage_row(usage: Usage) -> tuple[int, int, int, float]:
    """The spending columns, in table order: calls, input tokens, output tokens, cost."""
    return usage.calls, usage.input_tokens, usage.output_tokens, usage.cost


def stored_budget(row: Sequence[Any]) -> StoredBudget:
    """A `(budget, started_at, calls, input_tokens, output_tokens, cost)` row as a `StoredBudget`."""
    limits, started, calls, input_tokens, output_tokens, cost = row
    started_at = started if isinstance(started, datetime) else datetime.fromisoformat(str(started))
    if started_at.tzinfo is None:
        started_at = started_at.replace(tzinfo=UTC)
    loaded = json.loads(limits) if isinstance(limits, str) else limits
    return StoredBudget(
        Budget.from_limits(loaded), started_at, Usage(int(input_tokens), int(output_tokens), int(calls), float(cost))
    )
