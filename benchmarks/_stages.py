"""Where an activation's time goes: the overhead workload with a timer around each stage of the loop.

`publish -> route -> commit -> lease -> context -> run (engine, contract) -> artifacts -> route -> commit`:
each stage's time is exclusive (a stage inside another is not counted twice), and whatever no stage
covers (the runtime's scheduling and task switches, the benchmark loop) is `other`. Times are the
thread's CPU time, so other processes on a shared machine do not inflate them; reading that clock costs
about a microsecond per stage, so this runs apart from the measured overhead row.
"""

from __future__ import annotations

import functools
import gc
import inspect
import time
from collections.abc import Callable, Generator
from contextlib import contextmanager
from typing import Any

from flock_core import Flock, InMemoryBlackboardStore
from flock_core.agents import _activation
from flock_core.orchestration import _execution
from flock_core.orchestration._artifact_factory import ArtifactFactory
from flock_core.orchestration._execution import Executor
from flock_core.orchestration._orchestrator import Orchestrator
from flock_core.orchestration._routing import Routing
from flock_core.testing import FunctionEngine

from ._payloads import STAGES, Topic
from ._protocol import STAGE_NAMES, Job, Outcome

__all__ = ["overhead_stages"]


class _Timers:
    """Exclusive time per stage: a stage's own time, minus the stages it calls and their timers' cost.

    `overhead` is what timing one call costs its caller (measured by `calibrated`); it is subtracted from
    the caller's time, and the timers' total cost is left out of `other`.
    """

    def __init__(self, names: tuple[str, ...], overhead: int = 0) -> None:
        self.totals = dict.fromkeys(names, 0)
        self.calls = 0
        self.overhead = overhead
        self._stack: list[list[int]] = []

    def enter(self) -> list[int]:
        frame = [time.thread_time_ns(), 0]
        self._stack.append(frame)
        return frame

    def leave(self, name: str, frame: list[int]) -> None:
        elapsed = time.thread_time_ns() - frame[0]
        self._stack.pop()
        self.calls += 1
        self.totals[name] += elapsed - frame[1]
        if self._stack:
            self._stack[-1][1] += elapsed + self.overhead

    @classmethod
    def calibrated(cls) -> _Timers:
        """Timers whose `overhead` is the measured cost of timing one (empty) call, in nanoseconds."""
        probe = cls(("caller", "callee"))
        callee = _timed(probe, "callee", _nothing)
        rounds = 5_000
        frame = probe.enter()
        for _ in range(rounds):
            callee()
        probe.leave("caller", frame)
        return cls(STAGE_NAMES, probe.totals["caller"] // rounds)


def _nothing() -> None:
    return None


def _timed(timers: _Timers, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    if inspect.iscoroutinefunction(function):

        @functools.wraps(function)
        async def timed_async(*args: Any, **kwargs: Any) -> Any:
            frame = timers.enter()
            try:
                return await function(*args, **kwargs)
            finally:
                timers.leave(name, frame)

        return timed_async

    @functools.wraps(function)
    def timed(*args: Any, **kwargs: Any) -> Any:
        frame = timers.enter()
        try:
            return function(*args, **kwargs)
        finally:
            timers.leave(name, frame)

    return timed


_TARGETS: tuple[tuple[object, str, str], ...] = (
    (Orchestrator, "publish", STAGE_NAMES[0]),
    (Routing, "route", STAGE_NAMES[1]),
    (InMemoryBlackboardStore, "commit", STAGE_NAMES[2]),
    (Orchestrator, "_commit", STAGE_NAMES[3]),
    (InMemoryBlackboardStore, "lease", STAGE_NAMES[4]),
    (Executor, "run_item", STAGE_NAMES[5]),
    (_execution, "provide_context", STAGE_NAMES[6]),
    (_activation.ActivationRunner, "run", STAGE_NAMES[7]),
    (FunctionEngine, "evaluate", STAGE_NAMES[8]),
    (_activation, "enforce_contract", STAGE_NAMES[9]),
    (ArtifactFactory, "from_outputs", STAGE_NAMES[10]),
    (ArtifactFactory, "from_object", STAGE_NAMES[0]),
)


@contextmanager
def _instrumented(timers: _Timers) -> Generator[None]:
    originals = [(owner, attr, getattr(owner, attr)) for owner, attr, _ in _TARGETS]
    for (owner, attr, name), (_, _, original) in zip(_TARGETS, originals, strict=True):
        setattr(owner, attr, _timed(timers, name, original))
    try:
        yield
    finally:
        for owner, attr, original in originals:
            setattr(owner, attr, original)


async def overhead_stages(job: Job, started: float) -> Outcome:
    """The overhead workload (`job.size` topics per run) with each stage timed: µs per activation each."""
    from ._ours_side import pipeline, step  # _ours_side imports this module

    del started
    outcome = Outcome()
    for _ in range(job.runs):
        gc.collect()
        timers = _Timers.calibrated()
        flock = pipeline(Flock(engine=FunctionEngine(step), max_concurrency=job.concurrency), fan_out=1)
        await flock.start()
        with _instrumented(timers):
            begin = time.thread_time_ns()
            for i in range(job.size):
                await flock.publish(Topic(name=f"topic {i}"))
            await flock.run_until_idle()
            elapsed = time.thread_time_ns() - begin
        activations = len(STAGES) * job.size
        timers.totals[STAGE_NAMES[-1]] = elapsed - sum(timers.totals.values()) - timers.calls * timers.overhead
        for name, total in timers.totals.items():
            outcome.add(f"stage_us:{name}", total / activations / 1000)
        outcome.add("us_per_activation", (elapsed - timers.calls * timers.overhead) / activations / 1000)
        del flock
    outcome.info.update(framework="flockboard")
    return outcome
