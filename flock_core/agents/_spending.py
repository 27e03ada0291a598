"""Spending against budgets: accounts that refuse a model call before it is made, and the gate engines call.

An `Account` holds one budget (a workflow's or the Flock's) and what was spent against it. A `CallGate`
is one engine evaluation's view of the accounts that apply to it (the workflow's and the Flock's):

- the core calls `admit()` before it calls the engine (it reserves one call), and `settle(usage)` after;
- an engine that makes model calls itself (`DSPyEngine`, once per LM request, tool-loop steps and
  adapters' extra calls included) calls `before_call(model)` before each one, which reserves the call or
  raises `BudgetExceeded`, and `after_call(usage)` when it returns. `settle` then charges only what the
  engine reported beyond what it charged call by call, so nothing is counted twice.

Calls are reserved, so concurrent activations never pass `max_calls` together; tokens, cost and wall time
are known only after a call, so a call starts only while they are below their limits.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime

from .._budget import Budget, BudgetLimit, BudgetStatus
from .._clock import Clock
from .._usage import Usage
from ..exceptions import BudgetExceeded

__all__ = ["Account", "CallGate"]

_NOTHING = Usage()


@dataclass(slots=True)
class Account:
    """One budget and what was spent against it; `scope` is `"workflow"` or `"flock"`."""

    scope: str
    budget: Budget
    started_at: datetime
    spent: Usage = field(default_factory=Usage)
    reserved: int = 0
    unsaved: Usage = field(default_factory=Usage)  # charged here and not yet added to a store
    exceeded: BudgetLimit | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def elapsed(self, now: datetime) -> float:
        """Seconds since the budget started."""
        return max((now - self.started_at).total_seconds(), 0.0)

    def refusal(self, now: datetime, reserve: bool) -> BudgetLimit | None:
        """The limit that refuses one more call (then it is recorded as exceeded); else reserve it if asked."""
        with self._lock:
            refused = self.exceeded or self.budget.refusal(self.spent, self.elapsed(now), self.reserved)
            if refused is not None:
                self.exceeded = refused
            elif reserve:
                self.reserved += 1
            return refused

    def charge(self, usage: Usage, released: int = 0) -> None:
        """Add what calls cost; release `released` reserved calls."""
        with self._lock:
            self.spent = self.spent + usage
            self.unsaved = self.unsaved + usage
            self.reserved = max(self.reserved - released, 0)

    def saved(self, usage: Usage) -> None:
        """Note that `usage` (charged here) was added to the store."""
        with self._lock:
            self.unsaved = self.unsaved.beyond(usage)

    def sync(self, stored: Usage) -> None:
        """Take the store's spending (other workers' included), plus what was charged here and not stored yet."""
        with self._lock:
            self.spent = stored + self.unsaved

    def status(self, now: datetime) -> BudgetStatus:
        """The budget, what was spent and what is left."""
        elapsed = self.elapsed(now)
        remaining = self.budget.remaining(self.spent, elapsed)
        return BudgetStatus(self.budget, self.spent, elapsed, remaining, self.exceeded)


class CallGate:
    """One engine evaluation's budgets: engines call `before_call` and `after_call` around each model call.

    >>> from flock_core.testing import VirtualClock
    >>> clock = VirtualClock()
    >>> account = Account("workflow", Budget(max_calls=1), clock.now())
    >>> gate = CallGate((account,), clock, agent="writer", correlation_id="wf-1")
    >>> gate.before_call("openai/gpt-4.1-mini"); gate.after_call(Usage(12, 3, 1))
    >>> gate.before_call("openai/gpt-4.1-mini")
    Traceback (most recent call last):
    ...
    flock_core.exceptions.BudgetExceeded: agent 'writer': the workflow's budget is spent (max_calls=1 reached, ...
    """

    def __init__(self, accounts: tuple[Account, ...], clock: Clock, *, agent: str, correlation_id: str) -> None:
        self._accounts = accounts
        self._clock = clock
        self.agent = agent
        self.correlation_id = correlation_id
        self.charged = Usage()
        self._held = False

    @property
    def limits_cost(self) -> bool:
        """Whether a budget limits cost: then a model call whose price is unknown must not be made."""
        return any(a.budget.limits_cost for a in self._accounts)

    def admit(self) -> None:
        """Reserve one model call for the engine about to be called, or raise `BudgetExceeded`.

        The engine's first `before_call` takes this reservation; an engine that never calls `before_call`
        has it released by `settle`, with the calls it reports charged instead.
        """
        self._check(reserve=True)
        self._held = True

    def before_call(self, model: str | None = None) -> None:
        """Reserve one model call, or raise `BudgetExceeded` without reserving anything.

        `model` names the model about to be called.
        """
        if self._held:
            self._held = False  # the call `admit` reserved, checked a moment ago
            return
        self._check(reserve=True)

    def after_call(self, usage: Usage) -> None:
        """Charge what one reserved call cost (its tokens, its cost; `usage.calls` is counted as at least 1)."""
        usage = Usage(usage.input_tokens, usage.output_tokens, max(usage.calls, 1), usage.cost)
        self.charged = self.charged + usage
        for account in self._accounts:
            account.charge(usage, released=1)

    def settle(self, reported: Usage = _NOTHING) -> None:
        """Charge what the engine reported beyond what it charged call by call; release an unused reservation."""
        rest = reported.beyond(self.charged)
        released = 1 if self._held else 0
        self._held = False
        if rest != _NOTHING or released:
            self.charged = self.charged + rest
            for account in self._accounts:
                account.charge(rest, released=released)

    def _check(self, *, reserve: bool) -> None:
        if not self._accounts:
            return
        now = self._clock.now()
        taken: list[Account] = []
        for account in self._accounts:
            refused = account.refusal(now, reserve)
            if refused is not None:
                for held in taken:
                    held.charge(Usage(), released=1)
                raise BudgetExceeded(
                    self.agent,
                    self.correlation_id,
                    scope=account.scope,
                    limit=refused.name,
                    allowed=refused.limit,
                    spent=refused.spent,
                )
            if reserve:
                taken.append(account)
