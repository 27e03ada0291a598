"""Model-usage budgets (calls, tokens, cost): admitted before a run starts, from what the runs so far have
cost, and enforced at every DSPy model call by a `CallMeter` (a hard limit that survives a kill through its
journal)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING

from flock_core import AgentSpec, Usage, type_name_of
from flock_core.exceptions import ConfigurationError

from .._meter import CallMeter
from .._prices import Price

if TYPE_CHECKING:
    from pathlib import Path

    from pydantic import BaseModel

__all__ = ["Budget", "Spending", "first_run_estimate"]


@dataclass(frozen=True, slots=True)
class Budget:
    """Limits on the model usage of an optimization (all its trials, across resumes).

    Attributes:
        max_calls: the most LM calls (`Usage.calls`); `None`: no limit.
        max_tokens: the most input plus output tokens; `None`: no limit.
        max_cost: the most US dollars, each call priced for its model from LiteLLM's bundled price map
            (read from disk, never downloaded; see `engines.price_of`); `None`: no limit. Calls to a model
            without a known price are refused while a cost limit is set.
        prices: prices that win over the bundled map, by model name (negotiated rates, self-hosted models).

    >>> Budget(max_calls=100).max_calls
    100
    >>> Budget(max_cost=0.5, prices={"openai/local": Price(1e-07, 2e-07)}).max_cost
    0.5
    """

    max_calls: int | None = None
    max_tokens: int | None = None
    max_cost: float | None = None
    prices: Mapping[str, Price] | None = None

    def __post_init__(self) -> None:
        limits = (self.max_calls, self.max_tokens, self.max_cost)
        if any(limit is not None and limit < 0 for limit in limits):
            raise ConfigurationError("Budget limits must be zero or more", setting="budget")
        if self.prices is not None:
            for model, price in self.prices.items():
                if not isinstance(price, Price):
                    raise ConfigurationError(
                        f"Budget.prices[{model!r}] must be an engines.Price, got {type(price).__name__}",
                        setting="budget",
                    )
            object.__setattr__(self, "prices", MappingProxyType(dict(self.prices)))


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
        cost: float = 0.0,
        most_cost: float = 0.0,
        journal: Path | None = None,
    ) -> None:
        self.budget = budget or Budget()
        self._most: dict[str, Usage] = dict(most or {})
        self.most_cost = most_cost
        before = CallMeter.spent_in(journal) if journal is not None else Usage()
        cost_before = CallMeter.cost_in(journal) if journal is not None else 0.0
        self._reported = spent
        self.meter = CallMeter(
            max_calls=self.budget.max_calls,
            max_tokens=self.budget.max_tokens,
            max_cost=self.budget.max_cost,
            prices=self.budget.prices,
            spent=_most_of(spent, before),
            spent_cost=max(cost, cost_before),
            journal=journal,
        )

    @property
    def spent(self) -> Usage:
        """What was spent: the usage the runs reported, or what the meter counted at the model calls, if more
        (the meter also counts calls of runs cut short by a kill, and of runs whose trial was dropped)."""
        return _most_of(self._reported, self.meter.spent)

    @property
    def cost(self) -> float:
        """What was spent in US dollars, as the meter priced the model calls (across resumes)."""
        return self.meter.spent_cost

    @property
    def most(self) -> Mapping[str, Usage]:
        """The costliest run of each kind so far (the estimates; saved with a checkpoint)."""
        return MappingProxyType(self._most)

    def admit(self, kind: str, wanted: int, *, first_estimate: int = 1) -> int:
        """How many of `wanted` runs of `kind` may start now (0: the budget is exhausted for them)."""
        calls, tokens, cost = self.budget.max_calls, self.budget.max_tokens, self.budget.max_cost
        if calls is None and tokens is None and cost is None:
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
            run_tokens = estimate.input_tokens + estimate.output_tokens
            wanted = min(wanted, left // run_tokens if run_tokens else (1 if left > 0 else 0))
        if cost is not None:
            money = cost - self.cost
            if self.most_cost:
                wanted = min(wanted, int(money // self.most_cost))
            elif money <= 0:
                wanted = 0  # runs measured at no cost are not limited by it, until nothing is left
        return max(wanted, 0)

    def record_cost(self, runs: int, cost: float) -> None:
        """Note that `runs` runs together cost `cost` US dollars (the estimate of a run is the costliest average)."""
        if runs:
            self.most_cost = max(self.most_cost, cost / runs)

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
