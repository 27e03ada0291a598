"""The budgets of a Flock's workflows and of the Flock itself: set, loaded, persisted, reported.

A workflow's budget (`publish(..., budget=...)`) and its spending are kept by the store when it can
(`WorkflowBudgets`: memory, SQLite, PostgreSQL), so the budget holds across a restart: a resumed run
starts from what the workflow spent before, and its wall time from the workflow's start. The Flock's own
budget (`Flock(budget=...)`) counts what this Flock object spent since it was created; it is not stored.

Model calls are charged to the accounts as they are made (by the engine's gate, see `agents._spending`);
what an activation spent is added to the store when the activation ends. On a local board a workflow's
stored budget is read once while it runs (and again after it settled and runs again, so that what it
spent before still counts); on a shared board each activation re-reads its workflow's, so that what other
workers spent counts too. The accounts of settled workflows are dropped (`forget`): the store keeps them.

A workflow this Flock runs as a nested workflow of another Flock's agent (`.runs(inner)`) also spends
against that outer activation's gate while `within` holds it (see `agents._spending`).
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from collections.abc import Collection, Generator
from contextlib import contextmanager

from .._budget import Budget, BudgetLimit, BudgetStatus
from .._clock import Clock
from .._usage import Usage
from ..agents._spending import Account, CallGate
from ..blackboard._store import BlackboardStore, StoredBudget, WorkflowBudgets
from ..exceptions import ConfigurationError
from ._settling import SETTLED_KEPT

__all__ = ["Budgets"]


class Budgets:
    """Every budget of one Flock, and what was spent against it."""

    def __init__(self, budget: Budget | None, clock: Clock, store: BlackboardStore, *, shared: bool) -> None:
        if budget is not None and not isinstance(budget, Budget):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise ConfigurationError(f"Flock(budget=...) takes a flock_core.Budget, got {budget!r}", setting="budget")
        self._clock = clock
        self._store = store if isinstance(store, WorkflowBudgets) else None
        self._shared = shared
        self._flock = Account("flock", budget, clock.now()) if budget is not None else None
        self._workflows: dict[str, Account] = {}
        self._without: set[str] = set()  # running workflows known to have no budget (a local board)
        self._stopped: set[str] = set()
        self._exceeded: OrderedDict[str, BudgetLimit] = OrderedDict()  # of the latest settled workflows a limit stopped
        self._loaded = False
        self._any = False  # whether any workflow may have a budget (a local board: stored or set here)
        self._outer: dict[str, CallGate] = {}

    @contextmanager
    def within(self, correlation_id: str, gate: CallGate | None) -> Generator[None]:
        """While open, hold the workflow's model calls to `gate`'s budgets too (an outer activation's gate)."""
        if gate is None:
            yield
            return
        self._outer[correlation_id] = gate
        try:
            yield
        finally:
            if self._outer.get(correlation_id) is gate:
                del self._outer[correlation_id]

    def outer(self, correlation_id: str) -> CallGate | None:
        """The gate of the outer activation running this workflow as a nested workflow, if one is."""
        return self._outer.get(correlation_id)

    async def set(self, correlation_id: str, budget: Budget) -> None:
        """Give a workflow a budget (a workflow that has one keeps its start and spending)."""
        if not isinstance(budget, Budget):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise ConfigurationError(f"publish(budget=...) takes a flock_core.Budget, got {budget!r}", setting="budget")
        account = await self._load(correlation_id)
        if account is not None:
            account.budget = budget
        else:
            account = self._workflows[correlation_id] = Account("workflow", budget, self._clock.now())
        self._any = True
        self._without.discard(correlation_id)
        if self._store is not None:
            await self._store.save_budget(correlation_id, budget, account.started_at)

    @property
    def none(self) -> bool:
        """Whether no budget can apply to any workflow now (then `accounts` is empty without a look-up)."""
        return self._flock is None and not self._any and self._loaded and not self._shared

    async def accounts(self, correlation_id: str) -> tuple[Account, ...]:
        """The accounts an activation of this workflow spends against: its own budget's, then the Flock's."""
        if self.none:
            return ()  # the common case, no budget at all: nothing to look up
        own = await self._load(correlation_id)
        return tuple(a for a in (own, self._flock) if a is not None)

    async def record(self, correlation_id: str, usage: Usage) -> None:
        """Store what an activation of a workflow with a budget spent (its accounts are charged already)."""
        account = self._workflows.get(correlation_id)
        if account is None or usage == Usage() or self._store is None:
            return
        await self._store.add_spending(correlation_id, usage)
        account.saved(usage)

    def stop(self, correlation_id: str) -> bool:
        """Note that a budget stopped the workflow; `True` the first time (its error is reported once)."""
        first = correlation_id not in self._stopped
        self._stopped.add(correlation_id)
        return first

    def workflows(self) -> set[str]:
        """The workflows whose budget state is kept here."""
        return {*self._workflows, *self._without, *self._stopped}

    def forget(self, settled: Collection[str]) -> None:
        """Drop the state of settled workflows; a stored budget is read again if the workflow runs again.

        Without a store that keeps budgets, a workflow's account is the only record of its budget: kept.
        """
        for correlation_id in settled:
            self._stopped.discard(correlation_id)  # a stopped workflow is cancelled: none of its work runs
            self._without.discard(correlation_id)
            account = self._workflows.pop(correlation_id, None) if self._store is not None else None
            if account is not None and account.exceeded is not None:  # the store keeps what was spent, not this
                self._exceeded[correlation_id] = account.exceeded
                self._exceeded.move_to_end(correlation_id)
        while len(self._exceeded) > SETTLED_KEPT:
            self._exceeded.popitem(last=False)

    async def status(self, correlation_id: str) -> tuple[BudgetStatus | None, BudgetStatus | None]:
        """The workflow's budget status and the Flock's (each `None` without a budget)."""
        own = await self._load(correlation_id)
        now = self._clock.now()
        return (
            own.status(now) if own is not None else None,
            self._flock.status(now) if self._flock is not None else None,
        )

    async def _load(self, correlation_id: str) -> Account | None:
        """The workflow's account, from the store: all of them once on a local board, each time on a shared one."""
        if self._store is None:
            return self._workflows.get(correlation_id)
        if not self._shared:
            if not self._loaded:
                self._loaded = True
                self._any = self._any or bool(await self._store.workflow_budgets())
            account = self._workflows.get(correlation_id)
            if account is not None or not self._any or correlation_id in self._without:
                return account
            stored = await self._store.workflow_budget(correlation_id)
            if stored is None:
                self._without.add(correlation_id)
                return None
            return self._reload(correlation_id, stored)
        stored = await self._store.workflow_budget(correlation_id)
        account = self._workflows.get(correlation_id)
        if stored is None:
            return account
        if account is None:
            account = self._reload(correlation_id, dataclasses.replace(stored, spent=Usage()))
        account.sync(stored.spent)
        return account

    def _reload(self, correlation_id: str, stored: StoredBudget) -> Account:
        """The account of a workflow's stored budget (a limit that stopped it before still stops it)."""
        account = Account("workflow", stored.budget, stored.started_at, stored.spent)
        account.exceeded = self._exceeded.get(correlation_id)
        self._workflows[correlation_id] = account
        return account
