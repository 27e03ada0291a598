"""The makespan workload's 41 calls straight through DSPy, with no framework: `makespan_dspy`.

Each stage is a `dspy.Predict` over a hand-written signature with the same fields and instructions as
the pipeline's, on the same fake model, with the same fan-out (stage 1 answers 20 ideas; a draft and a
review follow per idea, concurrently). It is the floor of any DSPy-based engine on this machine: the CPU
DSPy spends per call (formatting, LiteLLM, parsing) serialises across the fan-out as ours does.
"""

from __future__ import annotations

import asyncio
import importlib
import time
from typing import Any

from ._payloads import FAN_OUT, STAGES, Topic
from ._protocol import Job, Outcome

__all__ = ["makespan_dspy"]


def _dspy() -> Any:
    """DSPy, untyped: its dynamic signatures and predictors are not statically typed."""
    return importlib.import_module("dspy")


def _signatures() -> list[Any]:
    dspy = _dspy()

    fields = [("topic", "ideas", f"A list of exactly {FAN_OUT} Idea artifacts.", True), ("idea", "draft", "", False),
              ("draft", "review", "", False)]  # fmt: skip
    made: list[Any] = []
    for stage, (source, target, output_desc, many) in zip(STAGES, fields, strict=True):
        output_type: Any = list[stage.publishes] if many else stage.publishes  # type: ignore[valid-type]
        made.append(
            dspy.Signature(
                {
                    source: (stage.consumes, dspy.InputField(desc=f"The {stage.consumes.__name__} input artifact.")),
                    target: (output_type, dspy.OutputField(desc=output_desc or f"One {stage.publishes.__name__}.")),
                },
                stage.description,
            )
        )
    return made


async def makespan_dspy(job: Job, started: float) -> Outcome:
    """One plan, then `FAN_OUT` chains of a draft and a review, through `dspy.Predict` and the fake model."""
    del started
    from engines._settings import prepare_environment

    prepare_environment()  # no price-list download, as the engine does
    dspy = _dspy()

    plan, write, review = (dspy.Predict(signature) for signature in _signatures())
    lm = dspy.LM("openai/bench", api_base=job.base_url, api_key="sk-bench", num_retries=0, cache=False)
    outcome = Outcome()

    async def chain(idea: Any) -> None:
        drafted = await write.acall(idea=idea)
        await review.acall(draft=drafted.draft)

    with dspy.context(lm=lm, adapter=dspy.ChatAdapter(), disable_history=True):
        for run in range(job.warmup + job.runs):
            window_start, begin = time.time(), time.perf_counter()
            planned = await plan.acall(topic=Topic(name=f"topic {run}"))
            await asyncio.gather(*(chain(idea) for idea in planned.ideas))
            elapsed = time.perf_counter() - begin
            outcome.windows.append((window_start, time.time()))
            if len(planned.ideas) != FAN_OUT:
                raise RuntimeError(f"expected {FAN_OUT} ideas, got {len(planned.ideas)}")
            if run >= job.warmup:
                outcome.add("makespan_s", elapsed)
    outcome.info.update(framework="dspy", version=dspy.__version__)
    return outcome
