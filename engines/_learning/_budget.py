"""Model-usage budgets of an optimization: admitted before a run starts, from what the runs so far have
cost, and enforced at every DSPy model call by a `CallMeter` (a hard limit that survives a kill through its
journal). The budget is `flock_core.Budget`, of which an optimization uses `max_calls` and `max_tokens`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING

from flock_core import AgentSpec, Budget, Usage, type_name_of

from .._meter import CallMeter

if TYPE_CHECKING:
    from pathlib import Path

    from pydantic import BaseModel

__all__ = ["Budget", "Spending", "first_run_estimate"]


class Spending:
    """What an optimization spent, and how many more runs of each kind the budget admits.

    A run is admitted only if the spending so far, plus the estimate of every run admitted with it,
    stays within the budget. The estimate of a kind of run is the most any run of that kind has cost so
    far; before the first one, `first_estimate` calls, and that first run starts alone.

    >>> spending = Spending(Budget(max_calls=10), Usage())
    >>> spending.admit("run", 8, first_estimate=2)
    1
    >>> spending.record("run", Usage(40, 10, 3))
    >>> spending.admit("run", 8, first_estimate=2)
    2
    """

    def __init__(
        self,
        budget: Budget | None,
        spent: Usage,
        most: Mapping[str, Usage] | None = None,
        *,
        journal: Path | None = None,
    ) -> None:
        self.budget = budget or Budget()
        self._most: dict[str, Usage] = dict(most or {})
        before = CallMeter.spent_in(journal) if journal is not None else Usage()
        self._reported = spent
        self.meter = CallMeter(
            max_calls=self.budget.max_calls,
            max_tokens=self.budget.max_tokens,
            spent=_most_of(spent, before),
            journal=journal,
        )

    @property
    def spent(self) -> Usage:
        """What was spent: the usage the runs reported, or what the meter counted at the model calls, if more
        (the meter also counts calls of runs cut short by a kill, and of runs whose trial was dropped)."""
        return _most_of(self._reported, self.meter.spent)

    @property
    def most(self) -> Mapping[str, Usage]:
        """The costliest run of each kind so far (the estimates; saved with a checkpoint)."""
        return MappingProxyType(self._most)

    def admit(self, kind: str, wanted: int, *, first_estimate: int = 1) -> int:
        """How many of `wanted` runs of `kind` may start now (0: the budget is exhausted for them)."""
        calls, tokens = self.budget.max_calls, self.budget.max_tokens
        if calls is None and tokens is None:
            return wanted
        most = self._most.get(kind)
        if most is None:
            wanted = min(wanted, 1)
            estimate = Usage(0, 0, max(first_estimate, 1))
        else:
            estimate = Usage(most.input_tokens, most.output_tokens, max(most.calls, 1))
        if calls is not None:
            wanted = min(wanted, (calls - self.spent.calls) // estimate.calls)
        if tokens is not None:
            left = tokens - self.spent.input_tokens - self.spent.output_tokens
            cost = estimate.input_tokens + estimate.output_tokens
            wanted = min(wanted, left // cost if cost else (1 if left > 0 else 0))
        return max(wanted, 0)

    def record(self, kind: str, usage: Usage) -> None:
        """Add the cost of one finished run of `kind`."""
        self._reported = self._reported + usage
        most = self._most.get(kind, Usage())
        self._most[kind] = Usage(
            max(most.input_tokens, usage.input_tokens),
            max(most.output_tokens, usage.output_tokens),
            max(most.calls, usage.calls),
        )


def _most_of(a: Usage, b: Usage) -> Usage:
    return Usage(max(a.input_tokens, b.input_tokens), max(a.output_tokens, b.output_tokens), max(a.calls, b.calls))


def first_run_estimate(specs: Mapping[str, AgentSpec], inputs: Iterable[BaseModel]) -> int:
    """The calls of a first run, before any was measured: one per output group of every agent the inputs reach.

    >>> from pydantic import BaseModel
    >>> from flock_core import OutputGroup, Subscription
    >>> class Ticket(BaseModel):
    ...     text: str
    >>> class Reply(BaseModel):
    ...     text: str
    >>> spec = AgentSpec("a", subscriptions=(Subscription(("Ticket",), (Ticket,)),),
    ...                  output_groups=(OutputGroup(("Reply",), (Reply,)),))
    >>> first_run_estimate({"a": spec}, [Ticket(text="hi")])
    1
    """
    types = {type_name_of(type(item)) for item in inputs}
    pending, reached = list(types), set[str]()
    while pending:
        name = pending.pop()
        for spec in specs.values():
            if name in spec.consumed_types and spec.name not in reached:
                reached.add(spec.name)
                new = {t for group in spec.output_groups for t in group.types} - types
                types |= new
                pending.extend(new)
    return sum(len(specs[name].output_groups) for name in reached)
