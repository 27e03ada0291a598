"""`CallGate` with a parent: a nested activation's calls are reserved and charged on the outer gate's budgets too."""

from __future__ import annotations

import pytest

from flock_core import Budget, CallGate, Usage
from flock_core.agents._spending import Account
from flock_core.exceptions import BudgetExceeded
from flock_core.testing import VirtualClock


def account(scope: str, clock: VirtualClock, **limits: int) -> Account:
    return Account(scope, Budget(**limits), clock.now())  # pyright: ignore[reportArgumentType]


def test_child_gates_share_the_parents_reservations_and_never_pass_its_max_calls() -> None:
    clock = VirtualClock()
    outer = account("workflow", clock, max_calls=2)
    parent = CallGate((outer,), clock, agent="fact_check", correlation_id="research")
    parent.admit()  # the core reserves one call for the outer engine: the first inner call takes it
    first = CallGate((), clock, agent="look_up", correlation_id="research/fact_check/a", parent=parent)
    second = CallGate((), clock, agent="look_up", correlation_id="research/fact_check/b", parent=parent)
    third = CallGate((), clock, agent="judge", correlation_id="research/fact_check/a", parent=parent)
    first.admit()
    second.admit()
    assert outer.reserved == 2
    with pytest.raises(BudgetExceeded, match="agent 'fact_check': the workflow's budget is spent"):
        third.admit()  # both calls are in flight: a third would pass max_calls
    assert parent.refused is not None
    assert parent.refused.limit == "max_calls"
    first.before_call()
    first.after_call(Usage(100, 20, 1))
    second.settle()  # its engine made no call: the reservation goes back
    parent.settle(Usage(100, 20, 1))  # what the inner run reported: charged already, not again
    assert (outer.reserved, outer.spent) == (0, Usage(100, 20, 1))
    assert parent.charged == Usage(100, 20, 1)


def test_a_refusal_by_the_parent_releases_the_childs_own_reservation() -> None:
    clock = VirtualClock()
    outer = account("flock", clock, max_calls=0)
    inner = account("flock", clock, max_calls=5)
    parent = CallGate((outer,), clock, agent="fact_check", correlation_id="research")
    child = CallGate((inner,), clock, agent="look_up", correlation_id="research/fact_check/a", parent=parent)
    with pytest.raises(BudgetExceeded, match="the Flock's budget is spent"):
        child.admit()
    assert (inner.reserved, outer.reserved) == (0, 0)


def test_the_tighter_budget_wins_and_cost_limits_come_from_the_parents_too() -> None:
    clock = VirtualClock()
    outer = account("workflow", clock, max_calls=10)
    inner = account("flock", clock, max_calls=1)
    parent = CallGate(
        (Account("workflow", Budget(max_cost=1.0), clock.now()), outer), clock, agent="a", correlation_id="c"
    )
    child = CallGate((inner,), clock, agent="b", correlation_id="c/a/x", parent=parent)
    assert child.limits_cost
    child.admit()
    child.before_call()
    child.after_call(Usage(1, 1, 1))
    with pytest.raises(BudgetExceeded, match="the Flock's budget is spent"):
        child.before_call()
    assert parent.refused is None  # the inner Flock's own budget refused, not the outer one
    assert (outer.spent.calls, inner.spent.calls) == (1, 1)


def test_a_gate_without_budgets_settles_as_one_with_them() -> None:
    # A gate with no account and no parent settles without taking its lock: it must end in the same
    # state as one with an account would (the reservation released, what was reported charged).
    clock = VirtualClock()
    budgeted = account("workflow", clock, max_calls=5)
    for accounts in [(), (budgeted,)]:
        gate = CallGate(accounts, clock, agent="writer", correlation_id="w")
        gate.admit()
        gate.settle()  # nothing reported: the reservation is released
        gate.before_call()  # a fresh reservation, not the released one
        gate.after_call(Usage(3, 2, 1))
        gate.settle()
        assert gate.charged == Usage(3, 2, 1)
        reported = CallGate(accounts, clock, agent="writer", correlation_id="w")
        reported.admit()
        reported.settle(Usage(7, 1, 2))  # an engine that reports instead of charging call by call
        reported.settle()
        assert reported.charged == Usage(7, 1, 2)
    assert budgeted.status(clock.now()).remaining["max_calls"] == 5 - 1 - 2
