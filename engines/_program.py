"""DSPy programs and how one runs: Predict, ChainOfThought or a tool loop, in a task-local DSPy context.

`run_program` never calls `dspy.configure` (process-global): the LM, the adapter and the other settings
are set with `dspy.context(...)` for the current task only, so concurrent activations with different
models do not interfere. Inside that context DSPy's in-memory LM history and trace (up to 10,000 entries
each by default, prompts and replies included) are turned off, and usage is collected with
`dspy.track_usage()`. LM calls are counted and traced through the LM's own `LMRelay` when it has one, so
that DSPy's callback machinery runs around the LM call only (see `engines._recorder`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import dspy

from flock_core import Usage

from ._lm import ObservedLM
from ._native_tools import NativeToolLoop
from ._prices import price_of
from ._recorder import CallRecorder, LMRelay, watching
from ._settings import ProgramName
from ._streaming import TokenSink
from ._telemetry import CallSpans
from ._tool_loop import ToolLoop
from ._tools import as_tools

__all__ = ["make_program", "run_program", "set_demos"]


def make_program(
    kind: ProgramName,
    signature: type[dspy.Signature],
    tools: Sequence[Callable[..., Any]],
    *,
    max_tool_calls: int,
    native_tools: bool = False,
) -> dspy.Module:
    """The DSPy module for one call. Any tool switches the program to a tool loop: native or ReAct text."""
    if tools and native_tools:
        return NativeToolLoop(signature, as_tools(tools), max_iters=max_tool_calls)
    if tools or kind == "react":
        return ToolLoop(signature, list[dspy.Tool](as_tools(tools)), max_iters=max_tool_calls)
    if kind == "chain_of_thought":
        return dspy.ChainOfThought(signature)
    return dspy.Predict(signature)


def set_demos(program: dspy.Module, demos: Sequence[dspy.Example]) -> None:
    """Give every predictor of `program` the worked examples `demos` (learned state, see `LearnedState`).

    A predictor whose signature has fields the demos lack (ChainOfThought's `reasoning`, ReAct's
    trajectory) shows them as examples with some fields not supplied, as DSPy's adapters do.
    """
    for predictor in program.predictors():
        predictor.demos = list(demos)


async def run_program(
    program: dspy.Module,
    inputs: Mapping[str, Any],
    *,
    lm: dspy.BaseLM,
    adapter: dspy.Adapter,
    foreign_adapter: bool = False,
    on_token: Callable[[str], None] | None = None,
) -> tuple[dspy.Prediction, Usage]:
    """Run `program` on `inputs` with `lm` and `adapter` in a task-local DSPy context; return its usage too.

    `foreign_adapter` says that the adapter is the user's own instance, which may call LMs besides `lm`.
    With `on_token`, the LM calls are streamed and their text goes to `on_token` (see `engines._streaming`).
    """
    recorder = CallRecorder()
    watchers = (recorder, CallSpans())
    settings: Any = dspy.settings  # DSPy's settings and context take untyped keyword arguments
    # The watchers go into dspy.settings, where they see every event, unless the LM's relay sees all they
    # need: not for the offline model (an LM without a relay, it reads the formatted signature), a tool loop
    # (execute_tool spans), or an adapter of the user's (a TwoStepAdapter may extract with another LM).
    lm_callbacks: list[object] = getattr(lm, "callbacks", [])
    relayed = any(isinstance(c, LMRelay) for c in lm_callbacks)
    in_settings = foreign_adapter or isinstance(program, ToolLoop | NativeToolLoop) or not relayed
    callbacks = [*settings.callbacks, *watchers] if in_settings else settings.callbacks
    # History stays off, except for an ObservedLM alone: it keeps none, only the response id for its span.
    no_history = foreign_adapter or not isinstance(lm, ObservedLM)
    stream = None if on_token is None else TokenSink(on_token)
    with (
        settings.context(
            lm=lm,
            adapter=adapter,
            callbacks=callbacks,
            disable_history=no_history,
            trace=None,
            send_stream=stream,
            stream_listeners=[],
            track_usage=stream is not None,  # a streamed LiteLLM call asks for the provider's usage chunk
        ),
        contextlib.nullcontext() if in_settings else watching(*watchers),
        dspy.track_usage() as tracker,
    ):
        try:
            prediction = await program.acall(**inputs)  # pyright: ignore[reportUnknownMemberType]
        except Exception as exc:
            raise ProgramFailed(exc, _usage(tracker.get_total_tokens(), recorder.calls)) from exc
    return prediction, _usage(tracker.get_total_tokens(), recorder.calls)


class ProgramFailed(Exception):
    """A DSPy program call failed; carries the cause and the usage the failed call still cost."""

    def __init__(self, cause: Exception, usage: Usage) -> None:
        super().__init__(str(cause))
        self.cause = cause
        self.usage = usage


def _usage(totals: Mapping[str, Mapping[str, Any]], calls: int) -> Usage:
    """Sum DSPy's per-model usage records (OpenAI-style `prompt_tokens` / `completion_tokens`), priced by model."""
    total = Usage(calls=calls)
    for model, usage in totals.items():
        input_tokens, output_tokens = int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
        price = price_of(model)
        cost = price.cost(Usage(input_tokens, output_tokens)) if price is not None else 0.0
        total = total + Usage(input_tokens, output_tokens, 0, cost)
    return total
