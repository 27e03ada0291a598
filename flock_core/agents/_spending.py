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

A gate can have a `parent`: the gate of the outer activation that runs this one's workflow as a nested
workflow (`.runs(inner)`). Every call reserved, charged or released here is reserved, charged or released
there too, so an inner model call is held to the outer workflow's and the outer Flock's budgets as well
as the inner Flock's (the tightest wins), and what the inner calls cost is the outer activation's.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime

from .._budget import Budget, BudgetLimit, BudgetStatus
from .._clock import Clock
from .._usage import NO_USAGE, Usage
from ..exceptions import BudgetExceeded

__all__ = ["Account", "CallGate"]

_NOTHING = NO_USAGE


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

    def __init__(
        self,
        accounts: tuple[Account, ...],
        clock: Clock,
        *,
        agent: str,
        correlation_id: str,
        parent: CallGate | None = None,
    ) -> None:
        self._accounts = accounts
        self._clock = clock
        self.agent = agent
        self.correlation_id = correlation_id
        self.parent = parent
        self.charged = _NOTHING
        self.refused: BudgetExceeded | None = None
        self._held = False
        self._lock = threading.Lock()  # `_held` and `charged`: nested gates are shared by concurrent activations

    @property
    def limits_cost(self) -> bool:
        """Whether a budget limits cost: then a model call whose price is unknown must not be made."""
        return any(a.budget.limits_cost for a in self._accounts) or (
            self.parent is not None and self.parent.limits_cost
        )

    def admit(self) -> None:
        """Reserve one model call for the engine about to be called, or raise `BudgetExceeded`.

        The engine's first `before_call` takes this reservation; an engine that never calls `before_call`
        has it released by `settle`, with the calls it reports charged instead.
        """
        if self._accounts or self.parent is not None:  # else there is nothing to reserve on
            self._reserve()
        self._held = True

    def before_call(self, model: str | None = None) -> None:
        """Reserve one model call, or raise `BudgetExceeded` without reserving anything.

        `model` names the model about to be called.
        """
        with self._lock:
            held, self._held = self._held, False
        if not held:  # else it is the call `admit` reserved, checked a moment ago
            self._reserve()

    def after_call(self, usage: Usage) -> None:
        """Charge what one reserved call cost (its tokens, its cost; `usage.calls` is counted as at least 1)."""
        usage = Usage(usage.input_tokens, usage.output_tokens, max(usage.calls, 1), usage.cost)
        self._charge(usage, released=1)

    def settle(self, reported: Usage = _NOTHING) -> None:
        """Charge what the engine reported beyond what it charged call by call; release an unused reservation."""
        if reported is _NOTHING and (not self._held or (not self._accounts and self.parent is None)):
            self._held = False  # nothing reported, and nothing reserved or nowhere to release it: no lock to take
            return
        with self._lock:
            rest = _NOTHING if reported is _NOTHING else reported.beyond(self.charged)  # nothing beyond nothing
            released = 1 if self._held else 0
            self._held = False
        if released or (rest is not _NOTHING and rest != _NOTHING):
            self._charge(rest, released=released)

    def _charge(self, usage: Usage, *, released: int) -> None:
        """Charge `usage` here and up the parents, releasing `released` reserved calls on each."""
        if usage is not _NOTHING:  # releasing a reservation only: nothing to add
            with self._lock:
                self.charged = self.charged + usage
        for account in self._accounts:
            account.charge(usage, released=released)
        if self.parent is not None:
            self.parent._charge(usage, released=released)

    def _reserve(self) -> None:
        """Reserve one call here and, through `before_call`, on the parents; all of them or none."""
        self._check(reserve=True)
        if self.parent is None:
            return
        try:
            self.parent.before_call()
        except BudgetExceeded:
            for account in self._accounts:
                account.charge(Usage(), released=1)
            raise

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
                self.refused = BudgetExceeded(
                    self.agent,
                    self.correlation_id,
                    scope=account.scope,
                    limit=refused.name,
                    allowed=refused.limit,
                    spent=refused.spent,
                )
                raise self.refused
            if reserve:
                taken.append(account)
