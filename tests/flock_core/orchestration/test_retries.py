"""Retries and dead letters: transient failures are retried after a scheduled backoff, others become dead letters."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
import pytest
from pydantic import BaseModel

from flock_core import (
    Backoff,
    BlackboardStore,
    Condition,
    ConditionView,
    DeadLetter,
    EvaluationRequest,
    Flock,
    InMemoryBlackboardStore,
    SQLiteBlackboardStore,
    WorkflowError,
)
from flock_core.agents._engine import Engine
from flock_core.exceptions import AgentDeclarationError, ContractViolation
from flock_core.testing import FunctionEngine, VirtualClock

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 1, 1, 8, 0, tzinfo=UTC)


class Ticket(BaseModel):
    text: str


class Triage(BaseModel):
    text: str


class Ping(BaseModel):
    n: int = 0


class Pong(BaseModel):
    n: int = 0


class RateLimited(Exception):
    """What a provider's 429 looks like to the core: an exception carrying the status code."""

    status_code = 429


class Script:
    """An engine that raises the scripted errors first, then triages; it logs each call with the clock's time."""

    def __init__(self, clock: VirtualClock | None, *errors: Exception) -> None:
        self.errors = list(errors)
        self.clock = clock
        self.calls: list[tuple[str, datetime | None]] = []

    def __call__(self, request: EvaluationRequest) -> list[BaseModel]:
        self.calls.append((request.agent.name, None if self.clock is None else self.clock.now()))
        if request.agent.name == "triage" and self.errors:
            raise self.errors.pop(0)
        if request.agent.name == "pong":
            return [Pong()]
        ticket = request.payloads[0]
        assert isinstance(ticket, Ticket)
        return [Triage(text=ticket.text.upper())]


def make_flock(store: BlackboardStore, engine: Engine, clock: VirtualClock | None = None) -> Flock:
    flock = Flock(store=store, engine=engine, clock=clock or VirtualClock(T0))
    for model in (Ticket, Triage, Ping, Pong):
        flock.register_type(model)
    return flock


async def test_a_transient_error_is_retried_after_its_backoff_and_no_error_is_published(
    store: BlackboardStore,
) -> None:
    clock = VirtualClock(T0)
    script = Script(clock, RateLimited("429 too many requests"), TimeoutError("read timed out"))
    flock = make_flock(store, FunctionEngine(script), clock)
    flock.agent("triage").consumes(Ticket).publishes(Triage).retry(
        attempts=3, backoff=Backoff(initial=10, multiplier=3, jitter=False)
    )

    await flock.publish(Ticket(text="down"))
    await flock.run_until_idle()

    assert await flock.get_by_type(Triage) == [Triage(text="DOWN")]
    assert script.calls == [
        ("triage", T0),
        ("triage", T0 + timedelta(seconds=10)),
        ("triage", T0 + timedelta(seconds=40)),
    ]
    assert await flock.get_by_type(WorkflowError) == []
    assert await flock.dead_letters() == []
    [record] = await store.work()
    assert (record.status, record.attempts) == ("done", 3)


async def test_a_programming_error_becomes_a_dead_letter_at_once(store: BlackboardStore) -> None:
    script = Script(None, KeyError("text"))
    flock = make_flock(store, FunctionEngine(script))
    flock.agent("triage").consumes(Ticket).publishes(Triage)  # the default policy: 3 attempts, transient only

    ticket = await flock.publish(Ticket(text="down"), correlation_id="c1")
    await flock.run_until_idle()

    [dead] = await flock.dead_letters()
    assert dead == DeadLetter(dead.key, "triage", "c1", (ticket.id,), 1, "'text'")
    [error] = await flock.get_by_type(WorkflowError)
    assert (error.agent, error.error_type, error.input_ids) == ("triage", "KeyError", [str(ticket.id)])
    assert len(script.calls) == 1


async def test_a_contract_violation_is_never_retried(store: BlackboardStore) -> None:
    violation = ContractViolation("triage", expected="1 Triage", got="nothing")
    script = Script(None, violation, violation)
    flock = make_flock(store, FunctionEngine(script))
    flock.agent("triage").consumes(Ticket).publishes(Triage).max_repairs(0).retry(attempts=5, backoff=0)

    await flock.publish(Ticket(text="down"))
    await flock.run_until_idle()

    assert len(script.calls) == 1
    assert [d.attempts for d in await flock.dead_letters()] == [1]


async def test_exhausted_attempts_land_in_the_dead_letters_and_a_replay_runs_them_again(
    store: BlackboardStore,
) -> None:
    script = Script(None, *(RateLimited(f"429 #{n}") for n in range(3)))
    flock = make_flock(store, FunctionEngine(script))
    flock.agent("triage").consumes(Ticket).publishes(Triage).retry(attempts=3, backoff=0.5)

    await flock.publish(Ticket(text="down"))
    await flock.run_until_idle()

    [dead] = await flock.dead_letters()
    assert (dead.attempts, dead.error) == (3, "429 #2")
    assert len(await flock.get_by_type(WorkflowError)) == 1
    assert await flock.get_by_type(Triage) == []

    assert await flock.replay(dead.key) is True
    assert await flock.replay(dead.key) is False  # it is queued now, not a dead letter
    await flock.run_until_idle()
    assert await flock.get_by_type(Triage) == [Triage(text="DOWN")]
    assert await flock.dead_letters() == []
    assert len(script.calls) == 4


async def test_replay_all_and_the_filters_of_dead_letters(store: BlackboardStore) -> None:
    broken = [True]

    def engine(request: EvaluationRequest) -> list[BaseModel]:
        if broken:
            raise ValueError(f"{request.agent.name} is broken")
        return [Pong()] if request.agent.name == "pong" else [Triage(text="ok")]

    flock = make_flock(store, FunctionEngine(engine))
    flock.agent("triage").consumes(Ticket).publishes(Triage)
    flock.agent("pong").consumes(Ping).publishes(Pong)
    for n in range(2):
        await flock.publish(Ticket(text=str(n)), correlation_id=f"t{n}")
    await flock.publish(Ping(), correlation_id="p")
    await flock.run_until_idle()

    assert [d.agent for d in await flock.dead_letters()] == ["triage", "triage", "pong"]
    assert [d.correlation_id for d in await flock.dead_letters(agent="triage")] == ["t0", "t1"]
    assert [d.agent for d in await flock.dead_letters(correlation_id="p")] == ["pong"]

    broken.clear()
    assert await flock.replay_all(agent="triage") == 2
    await flock.run_until_idle()
    assert [d.agent for d in await flock.dead_letters()] == ["pong"]
    assert await flock.replay_all() == 1
    await flock.run_until_idle()
    assert await flock.dead_letters() == []
    assert len(await flock.get_by_type(Triage)) == 2


async def test_a_custom_predicate_chooses_what_is_retried(store: BlackboardStore) -> None:
    script = Script(None, ValueError("flaky parser"), ValueError("flaky parser"))
    flock = make_flock(store, FunctionEngine(script))

    def flaky_parser(exc: BaseException) -> bool:
        return "flaky" in str(exc)

    flock.agent("triage").consumes(Ticket).publishes(Triage).retry(attempts=3, backoff=0, retry_on=flaky_parser)

    await flock.publish(Ticket(text="down"))
    await flock.run_until_idle()

    assert (len(script.calls), await flock.dead_letters()) == (3, [])


async def test_a_predicate_that_raises_fails_the_activation_with_its_own_error(store: BlackboardStore) -> None:
    script = Script(None, RateLimited("429"))
    flock = make_flock(store, FunctionEngine(script))

    def broken(exc: BaseException) -> bool:
        raise RuntimeError("bug in the predicate")

    flock.agent("triage").consumes(Ticket).publishes(Triage).retry(retry_on=broken)

    await flock.publish(Ticket(text="down"))
    await flock.run_until_idle()

    assert [d.error for d in await flock.dead_letters()] == ["429"]


async def test_a_backoff_wait_holds_no_concurrency_slot(store: BlackboardStore) -> None:
    clock = VirtualClock(T0)
    script = Script(clock, RateLimited("429"))
    flock = Flock(store=store, engine=FunctionEngine(script), clock=clock, max_concurrency=1)
    for model in (Ticket, Triage, Ping, Pong):
        flock.register_type(model)
    flock.agent("triage").consumes(Ticket).publishes(Triage).retry(backoff=Backoff(initial=60, jitter=False))
    flock.agent("pong").consumes(Ping).publishes(Pong)

    await flock.publish(Ticket(text="down"))
    await flock.publish(Ping())
    await flock.run_until_idle()

    assert script.calls == [("triage", T0), ("pong", T0), ("triage", T0 + timedelta(seconds=60))]


async def test_a_retry_waiting_for_its_backoff_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "board.db"
    first_script = Script(None, RateLimited("429"))
    first = Flock(store=SQLiteBlackboardStore(path), engine=FunctionEngine(first_script))  # the real clock
    for model in (Ticket, Triage, Ping, Pong):
        first.register_type(model)
    first.agent("triage").consumes(Ticket).publishes(Triage).retry(backoff=Backoff(initial=3600, jitter=False))
    await first.publish(Ticket(text="down"))

    async def waiting_for_retry() -> datetime:
        while True:
            [record] = await first.store.work()
            if record.retry_at is not None:
                return record.retry_at
            await anyio.sleep(0.01)

    retry_at = datetime.max.replace(tzinfo=UTC)
    with anyio.fail_after(30):
        async with anyio.create_task_group() as group:
            group.start_soon(first.run_until_idle)  # it would wait an hour for the retry: the process "crashes"
            retry_at = await waiting_for_retry()
            group.cancel_scope.cancel()
    await first.shutdown()

    clock = VirtualClock(retry_at - timedelta(minutes=59))
    second_script = Script(clock)
    second = make_flock(SQLiteBlackboardStore(path), FunctionEngine(second_script), clock)
    second.agent("triage").consumes(Ticket).publishes(Triage).retry(backoff=Backoff(initial=3600, jitter=False))
    await second.run_until_idle()

    assert second_script.calls == [("triage", retry_at)]  # not before its backoff, and exactly once
    assert await second.get_by_type(Triage) == [Triage(text="DOWN")]
    [record] = await second.store.work()
    assert (record.status, record.attempts) == ("done", 2)
    await second.shutdown()


async def test_retries_on_a_shared_board_wait_for_their_backoff_in_the_claim() -> None:
    shared = InMemoryBlackboardStore(shared=True)
    script = Script(None, RateLimited("429"), RateLimited("429"))
    flock = Flock(store=shared, engine=FunctionEngine(script))
    for model in (Ticket, Triage):
        flock.register_type(model)
    flock.agent("triage").consumes(Ticket).publishes(Triage).retry(attempts=3, backoff=Backoff(0.05, jitter=False))

    await flock.publish(Ticket(text="down"))
    with anyio.fail_after(30):
        await flock.run_until_idle()

    assert await flock.get_by_type(Triage) == [Triage(text="DOWN")]
    assert len(script.calls) == 3


@pytest.mark.parametrize(
    ("declare", "argument"),
    [
        (lambda b: b.retry(attempts=0), "retry(attempts=...)"),
        (lambda b: b.retry(backoff=-1), "backoff"),
        (lambda b: b.retry(backoff="fast"), "backoff"),
        (lambda b: b.retry(retry_on="429"), "retry_on"),
    ],
)
def test_a_bad_retry_declaration_names_its_argument(declare: Callable[..., object], argument: str) -> None:
    flock = Flock(engine=FunctionEngine(lambda r: []))
    builder = flock.agent("triage")
    with pytest.raises(AgentDeclarationError) as caught:
        declare(builder)
    assert (caught.value.agent, caught.value.argument) == ("triage", argument)


class RetryWaiting(Condition):
    """Holds once a work item of the store waits for its retry."""

    def __init__(self, store: BlackboardStore) -> None:
        self.store = store

    async def check(self, view: ConditionView) -> bool:
        return any(r.retry_at is not None for r in await self.store.work(("pending",)))


async def test_cancelling_a_workflow_drops_its_waiting_retry(store: BlackboardStore) -> None:
    clock = VirtualClock(T0)
    script = Script(clock, RateLimited("429"))
    flock = make_flock(store, FunctionEngine(script), clock)
    flock.agent("triage").consumes(Ticket).publishes(Triage).retry(backoff=Backoff(initial=3600, jitter=False))

    await flock.publish(Ticket(text="down"), correlation_id="c1")
    assert await flock.run_until(RetryWaiting(store), cancel_rest=False)
    await flock.cancel("c1", reason="no longer needed")
    await flock.run_until_idle()  # the hour-long backoff no longer keeps the run alive

    assert (clock.now(), len(script.calls)) == (T0, 1)
    assert [r.status for r in await store.work()] == ["cancelled"]
    assert await flock.dead_letters() == []
