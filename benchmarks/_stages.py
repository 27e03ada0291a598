"""Where an activation's time goes: the overhead workload with a timer around each stage of the loop.

`publish -> route -> commit -> lease -> context -> run (engine, contract) -> artifacts -> route -> commit`:
each stage's time is exclusive (a stage inside another is not counted twice), and whatever no stage
covers (the runtime's scheduling and task switches, the benchmark loop) is `other`. Times are the
thread's CPU time, so other processes on a shared machine inflate them less. Timing costs a wrapper call
and two clock reads per stage entered (`timers_us`); that cost is measured against plain runs and taken out
of the stages' figures (see `overhead_stages`). This runs apart from the measured overhead row.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import inspect
import time
from collections.abc import Callable, Generator
from contextlib import contextmanager, nullcontext
from typing import Any

from flock_core import Flock, InMemoryBlackboardStore
from flock_core.agents import _activation
from flock_core.orchestration import _execution
from flock_core.orchestration._artifact_factory import ArtifactFactory
from flock_core.orchestration._board import LocalBoard
from flock_core.orchestration._execution import Executor
from flock_core.orchestration._orchestrator import Orchestrator
from flock_core.orchestration._routing import Routing
from flock_core.orchestration._steps import Steps
from flock_core.testing import FunctionEngine

from ._payloads import STAGES, Topic
from ._protocol import STAGE_NAMES, Job, Outcome

__all__ = ["overhead_stages"]

_OTHER = STAGE_NAMES[-1]


class _Timers:
    """CPU time per stage, attributed at every timer event to the stage on top of the running task's stack.

    Activations interleave (a step waits for the board's step lock, which yields to the event loop), so each
    asyncio task keeps its own stack of stages, and the time since the previous event goes to the stage the
    current task is in: a stage is charged for its own code, not for its callees' or other tasks'.
    """

    def __init__(self, names: tuple[str, ...]) -> None:
        self.totals = dict.fromkeys(names, 0)
        self.counts = dict.fromkeys(names, 0)
        self.entered = dict.fromkeys(names, 0)
        self.calls = 0
        self._stacks: dict[object, list[str]] = {}
        self._last = time.thread_time_ns()

    def _charge(self) -> list[str]:
        now = time.thread_time_ns()
        stack = self._stacks.setdefault(asyncio.current_task(), [])
        if stack:
            self.totals[stack[-1]] += now - self._last
        self._last = now
        return stack

    def enter(self, name: str) -> None:
        stack = self._charge()
        self.counts[name] += 1  # the call's own half of the timer's cost lands in the stage entered ...
        self.counts[stack[-1] if stack else _OTHER] += 1  # ... the other half in the stage that called it
        stack.append(name)
        self.entered[name] += 1
        self.calls += 1

    def leave(self) -> None:
        self._charge().pop()


def _timed(timers: _Timers, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    if inspect.iscoroutinefunction(function):

        @functools.wraps(function)
        async def timed_async(*args: Any, **kwargs: Any) -> Any:
            timers.enter(name)
            try:
                return await function(*args, **kwargs)
            finally:
                timers.leave()

        return timed_async

    @functools.wraps(function)
    def timed(*args: Any, **kwargs: Any) -> Any:
        timers.enter(name)
        try:
            return function(*args, **kwargs)
        finally:
            timers.leave()

    return timed


_TARGETS: tuple[tuple[object, str, str], ...] = (
    (Orchestrator, "publish", STAGE_NAMES[0]),
    (Routing, "route", STAGE_NAMES[1]),
    (Routing, "route_at_once", STAGE_NAMES[1]),  # a step that waits for nothing (see `Steps`)
    (InMemoryBlackboardStore, "commit", STAGE_NAMES[2]),
    (LocalBoard, "commit_at_once", STAGE_NAMES[2]),
    (Steps, "_committed", STAGE_NAMES[3]),
    (InMemoryBlackboardStore, "lease_at_once", STAGE_NAMES[4]),  # what a run calls instead of `lease`
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


async def _pipeline_cpu(job: Job, timers: _Timers | None) -> int:
    """CPU nanoseconds of one run of the pipeline (`job.size` topics), timed by stage when `timers` is given."""
    from ._ours_side import pipeline, step  # _ours_side imports this module

    gc.collect()
    flock = pipeline(Flock(engine=FunctionEngine(step), max_concurrency=job.concurrency), fan_out=1)
    await flock.start()
    with _instrumented(timers) if timers is not None else nullcontext():
        begin = time.thread_time_ns()
        for i in range(job.size):
            await flock.publish(Topic(name=f"topic {i}"))
        await flock.run_until_idle()
        return time.thread_time_ns() - begin


async def overhead_stages(job: Job, started: float) -> Outcome:
    """The overhead workload (`job.size` topics per run) with each stage timed: µs per activation each.

    Each measured run is four runs of the pipeline, plain, timed, timed, plain (so a load that rises or falls
    steadily weighs on both kinds alike). The timed runs' extra CPU time is what the timers cost. Each timed
    call costs about the same, half of it charged to the stage it enters (after and before its clock reads)
    and half to the stage it is called from (the wrapper's call and return), so that much is taken out of
    each stage per call it received and per call it made. The stages are then what the plain runs spend in
    them, and `other` (what no stage covers: the runtime's scheduling, task switches, the input loop) is the
    plain runs' time less the stages: they add up to the plain runs' time.
    """
    del started
    outcome = Outcome()
    activations = len(STAGES) * job.size
    for _ in range(job.runs):
        timers = _Timers(STAGE_NAMES)
        plain = await _pipeline_cpu(job, None)
        timed = await _pipeline_cpu(job, timers) + await _pipeline_cpu(job, timers)
        plain = (plain + await _pipeline_cpu(job, None)) / 2
        per_call = max(0.0, timed / 2 - plain) / (timers.calls / 2)
        half = per_call / 2
        # never below zero: on a small or noisy run the measured timer cost can exceed a short stage's share
        stages = {name: max(0.0, timers.totals[name] - timers.counts[name] * half) / 2 for name in STAGE_NAMES[:-1]}
        stages[STAGE_NAMES[-1]] = plain - sum(stages.values())
        for name, total in stages.items():
            outcome.add(f"stage_us:{name}", total / activations / 1000)
        outcome.add("timers_us", (timed / 2 - plain) / activations / 1000)
        outcome.add("us_per_activation", plain / activations / 1000)
    outcome.info.update(framework="flockboard")
    return outcome
