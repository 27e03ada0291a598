"""Nested workflows: a whole `Flock` used as the engine of one agent of another (`.runs(inner)`).

Each activation of the outer agent publishes its inputs into the inner Flock as a new workflow, runs the
inner Flock until idle under its own agents and contracts, and returns the inner artifacts of the outer
agent's declared output types; the outer contract then checks them like any engine's outputs.

Where the inner artifacts live: in the inner Flock's own store, where they run (its own routing, work
queue and circuit breaker: an inner artifact never activates an outer agent), and, once the outer
activation commits, as a copy on the outer board, tagged `NESTED_TAG` and never routed there. The copies
keep their inner workflow's correlation id (`{outer correlation id}/{agent}/{digest}`), so the outer
workflow's results and status hold only its own artifacts, while the outer board holds the whole lineage
(outer output <- inner artifacts <- outer input), committed atomically with the outer outputs; no copy
is made of a run whose result the outer contract rejected.

The inner correlation id is derived from the outer work (`inner_workflow_id`): a resumed outer
activation finds the inner workflow its crashed run started and continues it (on a durable inner store)
instead of starting over. The inner model calls spend against the outer activation's budgets too
(`Flock.spending_within`, see `_spending`).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from itertools import count
from typing import Any, Protocol

import anyio
from pydantic import BaseModel

from .._ids import new_id
from .._usage import Usage
from ..blackboard._artifacts import Artifact
from ..blackboard._registry import TypeRegistry
from ..blackboard._store import ArtifactQuery, BlackboardStore
from ..blackboard._visibility import Visibility, combine
from ..exceptions import EngineError
from ._engine import EvaluationRequest, EvaluationResult
from ._flow import read_visibility
from ._spending import CallGate

__all__ = ["NESTED_TAG", "NestedWorkflow", "WorkflowEngine", "inner_workflow_id"]

NESTED_TAG = "flock:nested"
"""The tag of a nested workflow's artifacts copied onto the outer board (for lineage; never routed there)."""

_ERROR_TYPE = "WorkflowError"
_log = logging.getLogger("flock_core.nested")


class NestedWorkflow(Protocol):
    """What `WorkflowEngine` needs of the inner workflow: a `Flock` has all of it."""

    @property
    def registry(self) -> TypeRegistry:
        """The inner Flock's types (the outer inputs' types must be registered there too)."""
        ...

    @property
    def store(self) -> BlackboardStore:
        """Where the inner artifacts are stored and run."""
        ...

    async def publish(
        self,
        obj: BaseModel | Mapping[str, Any],
        *,
        visibility: Visibility | None = None,
        correlation_id: str | None = None,
        produced_by: str = ...,
    ) -> Artifact:
        """Publish an input of the inner workflow."""
        ...

    async def run_until_idle(self, timeout: float | None = None) -> None:
        """Run the inner Flock until nothing is left to do."""
        ...

    async def cancel(self, correlation_id: str, *, reason: str = ...) -> int:
        """Cancel one inner workflow."""
        ...

    async def get_correlation_status(self, correlation_id: str) -> CorrelationUsage:
        """Where one inner workflow stands (its token usage is the outer activation's)."""
        ...

    def spending_within(self, correlation_id: str, gate: CallGate | None) -> AbstractContextManager[None]:
        """Hold one inner workflow's model calls to the outer activation's budgets too."""
        ...


class CorrelationUsage(Protocol):
    """The part of a workflow's status a nested run reads: its state and its model usage."""

    @property
    def state(self) -> str:
        """`active`, `completed`, `failed`, `cancelled`, ..."""
        ...

    @property
    def usage(self) -> Usage:
        """The tokens and calls of the workflow's activations."""
        ...


def inner_workflow_id(request: EvaluationRequest, generation: int = 1) -> str:
    """The correlation id of the inner workflow one outer evaluation runs, derived from the outer work.

    The same outer inputs, output group and repair attempt give the same id, so an outer activation
    resumed after a crash finds the inner workflow it had started. `generation` counts inner workflows
    started again for the same evaluation (after a failed or cancelled one, or for a concurrent best-of
    candidate); an activation without inputs (a timer tick) gets a new id each time.
    """
    agent = request.agent.name
    if not request.inputs:
        return f"tick/{agent}/{new_id()}"
    work = ",".join(sorted(str(a.id) for a in request.inputs))
    digest = hashlib.sha256(f"{work}|{request.group_index}|{request.attempt}".encode()).hexdigest()[:20]
    base = f"{request.inputs[0].correlation_id}/{agent}/{digest}"
    return base if generation == 1 else f"{base}~{generation}"


class WorkflowEngine:
    """Runs a nested workflow (an inner `Flock`) as the engine of one outer agent. See the module docstring.

    Inner runs of one inner Flock are driven one at a time (the Flock runs one loop), but a run drives
    every inner workflow published so far: concurrent outer activations share one inner run.

    Args:
        workflow: the inner Flock.
        timeout: seconds one inner run may take (`None`: unbounded); past it the activation fails.
    """

    def __init__(self, workflow: NestedWorkflow, *, timeout: float | None = None) -> None:
        self.workflow = workflow
        self.timeout = timeout
        self._driving = anyio.Lock()
        self._open: set[str] = set()  # inner workflows an evaluation in this process is running

    def __repr__(self) -> str:
        return f"WorkflowEngine({self.workflow!r})"

    async def evaluate(self, request: EvaluationRequest) -> EvaluationResult:
        """Run the inner workflow of this evaluation (continuing it if it exists) and return its outputs."""
        agent = request.agent.name
        correlation_id = await self._claim(request)
        try:
            with self.workflow.spending_within(correlation_id, request.gate):
                copies = await self._publish_inputs(request, correlation_id)
                async with self._driving:
                    await self.workflow.run_until_idle(self.timeout)
        except BaseException:
            with anyio.CancelScope(shield=True):  # an outer cancellation (or failure) ends the inner run too
                await self.workflow.cancel(correlation_id, reason=f"the outer activation of {agent!r} ended")
            raise
        finally:
            self._open.discard(correlation_id)
        run = (await self.workflow.store.query(ArtifactQuery(correlation_id=correlation_id))).items
        usage = (await self.workflow.get_correlation_status(correlation_id)).usage
        if request.gate is not None and request.gate.refused is not None:
            raise request.gate.refused  # an outer budget stopped the inner run: it stops the outer workflow too
        try:
            return self._result(request, run, copies, usage)
        except EngineError:  # a failed inner run is not continued: a retry of this work starts the next one
            await self.workflow.cancel(correlation_id, reason=f"the nested workflow of {agent!r} failed")
            raise

    async def _claim(self, request: EvaluationRequest) -> str:
        """The inner workflow to run: the first of this evaluation's ids not cancelled and not in use here.

        An inner workflow that failed, timed out or was cancelled is cancelled (see `evaluate`), so a retry
        starts the next one; one that a crash interrupted, or that finished before the outer activation
        could commit, is continued.
        """
        for generation in count(1):
            correlation_id = inner_workflow_id(request, generation)
            if correlation_id in self._open:
                continue
            self._open.add(correlation_id)
            if (await self.workflow.get_correlation_status(correlation_id)).state != "cancelled":
                return correlation_id
            self._open.discard(correlation_id)
        raise AssertionError("unreachable: count() never ends")  # pragma: no cover

    async def _publish_inputs(self, request: EvaluationRequest, correlation_id: str) -> dict[str, Artifact]:
        """Publish the outer inputs into the inner workflow, skipping those a crashed run published already.

        Returns the inner copies' ids mapped to the outer inputs they copy (for lineage).
        """
        agent = request.agent.name
        stored = (await self.workflow.store.query(ArtifactQuery(correlation_id=correlation_id))).items
        published = [a for a in stored if a.produced_by == agent and not a.consumed_from]
        copies = {str(inner.id): outer for inner, outer in zip(published, request.inputs, strict=False)}
        for artifact, payload in list(zip(request.inputs, request.payloads, strict=True))[len(published) :]:
            inner = await self.workflow.publish(
                payload, visibility=artifact.visibility, correlation_id=correlation_id, produced_by=agent
            )
            copies[str(inner.id)] = artifact
        return copies

    def _result(
        self, request: EvaluationRequest, run: Sequence[Artifact], copies: Mapping[str, Artifact], usage: Usage
    ) -> EvaluationResult:
        agent = request.agent.name
        wanted = set(request.group.types)
        produced = [a for a in run if a.type in wanted and str(a.id) not in copies]
        errors = [a for a in run if a.type == _ERROR_TYPE]
        if errors and not produced:
            detail = "; ".join(f"{e.payload.get('agent')}: {e.payload.get('message')}" for e in errors)
            raise EngineError(agent, f"the nested workflow failed: {detail}", usage=usage)
        outputs: list[BaseModel] = []
        for artifact in produced:
            model = next(
                m for m, n in zip(request.group.models, request.group.types, strict=True) if n == artifact.type
            )
            outputs.append(artifact.as_model(model))
        ceiling = read_visibility((*request.inputs, *request.context))
        trail = tuple(_on_outer_board(a, request, copies, ceiling) for a in run)
        derived = tuple(a.id for a in produced)
        return EvaluationResult(outputs=outputs, usage=usage, trail=trail, derived_from=derived)


def _on_outer_board(
    artifact: Artifact, request: EvaluationRequest, copies: Mapping[str, Artifact], ceiling: Visibility
) -> Artifact:
    """The copy of an inner artifact for the outer board: in its inner workflow, never more visible than what
    the outer activation read, tagged `NESTED_TAG`; an inner input copy derives from its outer input."""
    source = copies.get(str(artifact.id))
    changes: dict[str, Any] = {
        "visibility": combine(artifact.visibility, ceiling),
        "tags": artifact.tags | {NESTED_TAG},
    }
    if source is not None:
        changes["consumed_from"] = (source.id,)
    return artifact.model_copy(update=changes)
