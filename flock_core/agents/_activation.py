"""One activation: components, engine calls per output group, the contract with repair, best-of."""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from uuid import UUID

import anyio
from opentelemetry import trace
from pydantic import BaseModel

from .._clock import Clock, SystemClock
from .._records import plain_init
from .._usage import NO_USAGE
from ..blackboard._artifacts import Artifact
from ..blackboard._registry import TypeRegistry
from ..blackboard._visibility import DeclassifiedVisibility, Visibility
from ..blackboard._work import Tick
from ..exceptions import ContractViolation, EngineError
from ._contract import enforce_contract
from ._engine import Engine, EvaluationRequest, Usage, checked_result, evaluation
from ._flow import output_visibility, read_visibility
from ._spec import AgentSpec, OutputGroup
from ._spending import Account, CallGate

if TYPE_CHECKING:
    from pydantic import TypeAdapter

    from ._learned import LearnedState

__all__ = ["ActivationRunner", "Output", "UsageMeter"]

Produced = tuple[list[BaseModel], tuple[UUID, ...]]
"""An output group's accepted outputs and the trail ids they derive from."""

_log = logging.getLogger("flock_core.activation")


@functools.cache
def _visibility_adapter() -> TypeAdapter[Visibility]:
    from pydantic import TypeAdapter  # only agents with visibility rules need it

    return TypeAdapter(Visibility)


@plain_init
@dataclass(frozen=True, slots=True)
class Output:
    """A validated output ready to publish: its payload, visibility, output group, and extra lineage.

    `derived_from` names artifacts of the activation's trail (a nested workflow's run) it derives from.
    """

    payload: BaseModel
    visibility: Visibility
    group_index: int
    derived_from: tuple[UUID, ...] = ()


@dataclass(slots=True)
class UsageMeter:
    """Accumulates model usage of one activation, including failed and repaired attempts.

    `accounts` are the budgets the activation spends against (its workflow's, the Flock's): every engine
    call gets a `CallGate` over them (see `_spending`), whose parent is `outer`, the gate of the outer
    activation when the workflow runs nested in another Flock. It also collects the activation's trail: the
    artifacts of the nested workflow runs whose results passed the contract (stored with the outputs,
    see `EvaluationResult.trail`).
    """

    total: Usage = NO_USAGE
    repairs: int = 0
    accounts: tuple[Account, ...] = ()
    correlation_id: str = ""
    clock: Clock = field(default_factory=SystemClock)
    trail: list[Artifact] = field(default_factory=list[Artifact])
    outer: CallGate | None = None

    def add(self, usage: Usage) -> None:
        """Add the usage of one engine call (`total` stays `NO_USAGE` while nothing was used)."""
        if usage is not NO_USAGE and usage != NO_USAGE:
            self.total = self.total + usage

    def gate(self, agent: str) -> CallGate:
        """A gate for one engine call of `agent` against this activation's budgets."""
        return CallGate(self.accounts, self.clock, agent=agent, correlation_id=self.correlation_id, parent=self.outer)


class ActivationRunner:
    """Runs an agent on a complete set of inputs and returns the outputs to publish."""

    def __init__(
        self,
        registry: TypeRegistry,
        engine_for: Callable[[AgentSpec], Engine],
        model: str | None,
        learned: Mapping[tuple[str, int], LearnedState] | None = None,
    ) -> None:
        self._registry = registry
        self._engine_for = engine_for
        self._model = model
        self.learned: Mapping[tuple[str, int], LearnedState] = learned if learned is not None else {}

    async def run(
        self,
        spec: AgentSpec,
        inputs: Sequence[Artifact],
        context: Sequence[Artifact],
        meter: UsageMeter,
        *,
        tick: Tick | None = None,
        batched: bool = False,
        on_token: Callable[[str, int], None] | None = None,
        read: Visibility | None = None,
    ) -> list[Output]:
        """Evaluate every output group of `spec` and return the outputs that passed the contract.

        Outputs are visible only to identities that could see all of `inputs` and `context` (see `_flow`);
        `read` is that visibility when the caller has computed it already (`read_visibility` of both).
        `on_token(text, attempt)`, when given, receives the text a streaming engine streams on each attempt.
        """
        if read is None:
            read = read_visibility((*inputs, *context))
        for component in spec.components:
            inputs = await component.on_pre_consume(spec, inputs)
        resolve = self._registry.resolve
        payloads: Sequence[BaseModel] = (
            [inputs[0].as_model(resolve(inputs[0].type))]  # one input (most): no comprehension to call
            if len(inputs) == 1
            else [a.as_model(resolve(a.type)) for a in inputs]
        )
        for component in spec.components:
            payloads = await component.on_pre_evaluate(spec, payloads)
        inputs, payloads, context = tuple(inputs), tuple(payloads), tuple(context)
        single = spec.best_of is None or spec.best_of.n == 1
        outputs: list[Output] = []
        for index, group in enumerate(spec.output_groups):
            # One candidate: its first attempt's gate and token relay go in the request from the start
            # (best-of candidates each get their own, see `_with_repair`).
            request = EvaluationRequest(
                agent=spec,
                group=group,
                group_index=index,
                inputs=inputs,
                payloads=payloads,
                context=context,
                model=self._model,
                tick=tick,
                batched=batched,
                learned=self.learned.get((spec.name, index)) if self.learned else None,
                on_token=_on_attempt(on_token, 0) if single and on_token is not None else None,
                gate=meter.gate(spec.name) if single else None,
            )
            if single:
                produced, derived = await self._with_repair(spec, request, meter, on_token)
            else:
                produced, derived = await self._best_of(spec, request, meter, on_token)
            if group.visibility is None and not isinstance(read, DeclassifiedVisibility):  # what `_visibility` gives
                outputs.extend([Output(p, read, index, derived) for p in produced])
            else:
                outputs.extend(
                    Output(p, self._visibility(spec, group, index, p, read), index, derived) for p in produced
                )
        return outputs

    async def _best_of(
        self, spec: AgentSpec, request: EvaluationRequest, meter: UsageMeter, relay: Callable[[str, int], None] | None
    ) -> Produced:
        assert spec.best_of is not None
        candidates: list[Produced] = []
        failures: list[Exception] = []

        async def candidate() -> None:
            try:
                candidates.append(await self._with_repair(spec, request, meter, relay))
            except (ContractViolation, EngineError) as exc:
                failures.append(exc)

        async with anyio.create_task_group() as group:
            for _ in range(spec.best_of.n):
                group.start_soon(candidate)
        if not candidates:
            raise failures[-1]
        score = spec.best_of.score
        return max(candidates, key=lambda candidate: score(candidate[0]))

    async def _with_repair(
        self, spec: AgentSpec, request: EvaluationRequest, meter: UsageMeter, relay: Callable[[str, int], None] | None
    ) -> Produced:
        """Call the engine, and again with the contract's error as feedback while repairs are left.

        Each attempt gets a gate of its own (and, with `relay`, its own token relay): the first one's are in
        `request` already when it has a gate (`run`, one candidate).
        """
        engine = self._engine_for(spec)
        for attempt in range(spec.max_repairs + 1):
            if attempt:
                meter.repairs += 1
            outputs: Sequence[BaseModel] = ()
            gate = request.gate
            if gate is None:  # a best-of candidate's first attempt
                gate = meter.gate(spec.name)
                request = _replace(request, gate=gate, on_token=_on_attempt(relay, 0))
            try:
                gate.admit()
                # `evaluate_checked`, inline: one coroutine fewer per engine call
                result = checked_result(spec.name, engine, await evaluation(spec.name, engine, request))
                gate.settle(result.usage)
                outputs = result.outputs
                for component in spec.components:
                    outputs = await component.on_post_evaluate(spec, outputs)
                accepted = enforce_contract(spec.name, request.group, outputs)
                if result.trail:
                    meter.trail.extend(result.trail)
                return accepted, result.derived_from
            except EngineError as error:
                gate.settle(error.usage or Usage())
                raise
            except ContractViolation as violation:
                gate.settle(violation.usage or Usage())
                _note_violation(spec, request, violation)
                if attempt == spec.max_repairs:
                    raise
                request = _replace(
                    request,
                    attempt=attempt + 1,
                    previous_outputs=tuple(outputs),
                    previous_error=violation,
                    gate=meter.gate(spec.name),
                    on_token=_on_attempt(relay, attempt + 1),
                )
            finally:
                gate.settle()  # releases the call `admit` reserved if the engine neither used nor reported it
                if gate.charged is not NO_USAGE:  # what the engine reported, or charged call by call if more
                    meter.add(gate.charged)
        raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover

    def _visibility(
        self, spec: AgentSpec, group: OutputGroup, index: int, payload: BaseModel, read: Visibility
    ) -> Visibility:
        """The output's visibility: what was read, narrowed by the group's rule (or declassified by name)."""
        rule = group.visibility
        declared: Visibility | None
        if callable(rule):
            try:
                declared = _visibility_adapter().validate_python(rule(payload))
            except Exception as exc:
                raise EngineError(spec.name, f"visibility function failed: {type(exc).__name__}: {exc}") from exc
        else:
            declared = rule
        visibility = output_visibility(read, declared, group.declassify)
        if isinstance(visibility, DeclassifiedVisibility):
            trace.get_current_span().add_event(
                "flock.declassified",
                {
                    "flock.output_group": index,
                    "flock.declassification": visibility.name,
                    "flock.type": type(payload).__name__,
                },
            )
        return visibility


def _note_violation(spec: AgentSpec, request: EvaluationRequest, violation: ContractViolation) -> None:
    """Record a contract violation of `request`'s attempt on the current span and in the log."""
    attempt = request.attempt
    trace.get_current_span().add_event(
        "flock.contract_violation",
        {
            "flock.output_group": request.group_index,
            "flock.attempt": attempt,
            "flock.expected": violation.expected,
            "flock.got": violation.got,
            "flock.errors": list(violation.errors),
            "flock.will_repair": attempt < spec.max_repairs,
        },
    )
    _log.info(
        "agent %r group %d attempt %d violated its contract: %s", spec.name, request.group_index, attempt, violation
    )


def _on_attempt(relay: Callable[[str, int], None] | None, attempt: int) -> Callable[[str], None] | None:
    """`relay` bound to one attempt: the `on_token` of that attempt's request (`None` without a relay)."""
    if relay is None:
        return None
    return lambda text: relay(text, attempt)


_REQUEST_FIELDS = tuple(f.name for f in dataclasses.fields(EvaluationRequest))


def _replace(request: EvaluationRequest, **changes: Any) -> EvaluationRequest:
    """`dataclasses.replace` for a request, without its per-call inspection of the fields (two per call)."""
    values = {name: getattr(request, name) for name in _REQUEST_FIELDS}
    values.update(changes)
    return EvaluationRequest(**values)
