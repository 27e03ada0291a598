"""The DSPy side of a `DSPyEngine`: its LMs, and one evaluation from request to typed outputs.

This module imports DSPy; `DSPyEngine` imports it at its first `evaluate`, so that `import engines`
and constructing an engine stay cheap.
"""

from __future__ import annotations

import dspy

from flock_core import EvaluationRequest, EvaluationResult, LearnedState, Usage
from flock_core.exceptions import ConfigurationError, EngineError

from ._gated import gated
from ._inputs import demo_fields, signature_inputs
from ._lm import make_adapter, make_lm
from ._meter import current_meter
from ._native_tools import native_tool_calling
from ._outputs import collect_outputs, parse_violation
from ._program import ProgramFailed, make_program, run_program, set_demos
from ._settings import EngineSettings
from ._shape import InputShape
from ._signature import SignaturePlan, build_signature

__all__ = ["DSPySession"]


class DSPySession:
    """One engine's DSPy state: an LM and an adapter per model, created at first use and then reused.

    Reusing the LM keeps its HTTP connection pools warm across activations.
    """

    def __init__(self, settings: EngineSettings) -> None:
        self._settings = settings
        self._runtimes: dict[str, tuple[dspy.BaseLM, dspy.Adapter]] = {}
        self._native: dict[str, bool] = {}  # per model: whether its LM and adapter call tools natively

    def runtime(self, model: str) -> tuple[dspy.BaseLM, dspy.Adapter]:
        """The LM and adapter for `model`."""
        runtime = self._runtimes.get(model)
        if runtime is None:
            lm = make_lm(model, self._settings.lm)
            runtime = self._runtimes[model] = (lm, make_adapter(self._settings.adapter, lm))
        return runtime

    async def evaluate(self, request: EvaluationRequest, model: str) -> EvaluationResult:
        """Build the signature, run the program with `model`, and return the typed outputs and usage.

        Learned state (`request.learned`) applies here: its instructions replace the agent description,
        its demos become the program's demos. A reply the adapter cannot parse raises `ContractViolation`
        (the core then asks for a repair); a failed model call, once its retries are spent, raises `EngineError`.
        """
        agent = request.agent.name
        learned = request.learned or _NOTHING_LEARNED
        shape = InputShape.of(request)
        plan, signature = build_signature(request.agent, request.group_index, shape, instructions=learned.instructions)
        lm, adapter = self.runtime(model)
        tools = (*self._settings.tools, *request.agent.tools)
        program = make_program(
            self._settings.program,
            signature,
            tools,
            max_tool_calls=self._settings.max_tool_calls,
            native_tools=self._native_tools(agent, model, lm, adapter),
        )
        if learned.demos:
            set_demos(program, _examples(plan, learned))
        meter, reserved = current_meter(), self._most_requests(bool(tools))
        if meter is not None and not meter.acquire(reserved, model=model):
            if model in meter.unpriced:
                message = f"model {model!r} has no known price, so a cost budget cannot bound it: the call was not made"
            else:
                message = f"the model-call budget is spent: a call to {model!r} was not made"
            raise EngineError(agent, message, usage=Usage())
        usage = Usage()
        try:
            with gated(request.gate):  # every LM call of the program asks the activation's budgets first
                prediction, usage = await run_program(
                    program,
                    signature_inputs(plan, request),
                    lm=lm,
                    adapter=adapter,
                    foreign_adapter=not isinstance(self._settings.adapter, str),
                    on_token=request.on_token,
                )
        except ProgramFailed as failed:
            usage = failed.usage
            cause = failed.cause
            if isinstance(cause, dspy.AdapterParseError):
                raise parse_violation(agent, plan, cause, usage=failed.usage) from cause
            if isinstance(cause, dspy.LMError):
                message = f"the call to model {model!r} failed: {cause}"
                raise EngineError(agent, message, usage=failed.usage) from cause
            raise cause from None
        finally:
            if meter is not None:
                meter.settle(reserved, usage, model=model)
        return EvaluationResult(outputs=collect_outputs(agent, plan, prediction), usage=usage)

    def _most_requests(self, tool_loop: bool) -> int:
        """The most HTTP requests one program call can make: its LM calls, each with its retries."""
        calls = self._settings.max_tool_calls + 1 if tool_loop or self._settings.program == "react" else 1
        return calls * (1 + self._settings.lm.num_retries)

    def _native_tools(self, agent: str, model: str, lm: dspy.BaseLM, adapter: dspy.Adapter) -> bool:
        choice = self._settings.tool_calling
        supported = self._native.get(model)
        if supported is None:  # DSPy looks the model up in LiteLLM's tables: once per model, not per call
            supported = self._native[model] = native_tool_calling(lm, adapter)
        if choice == "native" and not supported:
            raise ConfigurationError(
                f"agent {agent!r}: tool_calling='native' needs a model with function calling and the 'chat' adapter"
            )
        return choice == "native" or (choice == "auto" and supported)


_NOTHING_LEARNED = LearnedState()


def _examples(plan: SignaturePlan, learned: LearnedState) -> list[dspy.Example]:
    """The learned demos that fit `plan`, as DSPy examples named like the signature's fields."""
    fitting = (demo_fields(plan, demo) for demo in learned.demos)
    return [dspy.Example(**fields) for fields in fitting if fields is not None]
