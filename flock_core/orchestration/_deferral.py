"""Activation conditions: complete activations whose `consumes(activation=...)` condition must hold first.

Such an activation is held, not dropped: after every commit it is checked again if the commit added an
artifact to its workflow, and it is queued as soon as its condition holds. The condition sees the store
as the activation's agent does (visibility applies) and is judged in the activation's workflow.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping

from ..agents._spec import ActivationCondition, AgentSpec
from ..blackboard._registry import TypeRegistry
from ..blackboard._store import BlackboardStore
from ._collectors import Admits, admit_all
from ._conditions import ConditionView
from ._runtime import WorkItem
from ._scheduler import Rejection

__all__ = ["DeferredActivations"]

_log = logging.getLogger("flock_core.scheduler")


class DeferredActivations:
    """Holds activations until their activation condition holds (in memory: re-derived on resume)."""

    def __init__(
        self,
        specs: Mapping[str, AgentSpec],
        registry: TypeRegistry,
        store: BlackboardStore,
        on_reject: Callable[[Rejection], None],
    ) -> None:
        self._specs = specs
        self._registry = registry
        self._store = store
        self._on_reject = on_reject
        self._held: dict[str, list[WorkItem]] = {}
        self._admitted: set[str] = set()
        self.conditional = False
        """Whether a declared subscription has an activation condition (else `split` holds nothing)."""

    def declared(self) -> None:
        """Note that a declaration was added or changed (see `conditional`)."""
        self.conditional = any(s.activation is not None for spec in self._specs.values() for s in spec.subscriptions)

    def _condition(self, item: WorkItem) -> ActivationCondition | None:
        spec = self._specs.get(item.record.agent)
        index = item.record.subscription
        if spec is None or not 0 <= index < len(spec.subscriptions):
            return None
        return spec.subscriptions[index].activation

    def split(self, items: list[WorkItem]) -> tuple[list[WorkItem], list[WorkItem]]:
        """The items to queue now, and those to hold (`hold` them once their inputs are committed)."""
        ready: list[WorkItem] = []
        held: list[WorkItem] = []
        for item in items:
            if item.record.key in self._admitted or self._condition(item) is None:
                self._admitted.discard(item.record.key)
                ready.append(item)
            else:
                held.append(item)
        return ready, held

    def hold(self, items: list[WorkItem]) -> None:
        """Keep these items until their condition holds."""
        for item in items:
            self._held.setdefault(item.correlation_id, []).append(item)

    def waiting(self, correlation_id: str | None = None, admits: Admits = admit_all) -> int:
        """Input artifacts of held activations (optionally of one workflow; only those `admits`)."""
        if not self._held:
            return 0
        held = self._held.get(correlation_id, []) if correlation_id is not None else self._all()
        return sum(1 for item in held for a in item.inputs if admits(a))

    def workflows(self) -> set[str]:
        """The workflows with an activation held by its condition."""
        return {cid for cid, items in self._held.items() if items}

    def _all(self) -> list[WorkItem]:
        return [item for items in self._held.values() for item in items]

    async def release(self, correlation_ids: Collection[str] | None = None) -> list[WorkItem]:
        """Check the held activations of these workflows (`None`: all); return those whose condition holds."""
        released: list[WorkItem] = []
        for cid in [c for c in self._held if correlation_ids is None or c in correlation_ids]:
            still: list[WorkItem] = []
            for item in self._held.pop(cid):
                verdict = await self._check(item)
                if verdict is None:
                    still.append(item)
                elif verdict:
                    self._admitted.add(item.record.key)
                    released.append(item)
            if still:
                self._held[cid] = still
        return released

    async def _check(self, item: WorkItem) -> bool | None:
        """`True`: run it; `None`: keep waiting; `False`: the condition raised, the activation is rejected."""
        condition = self._condition(item)
        if condition is None:
            return True
        spec = self._specs[item.agent]
        view = ConditionView(self._store, False, self._registry, item.correlation_id, spec.identity)
        try:
            return True if await condition.check(view) else None
        except Exception as exc:  # noqa: BLE001 - a user condition that raises rejects the activation, with the reason
            _log.warning("activation condition of agent %r raised: %r", item.agent, exc)
            reason = f"activation condition raised {type(exc).__name__}: {exc}"
            for artifact in item.inputs:
                self._on_reject(Rejection(item.agent, artifact.id, reason))
            return False
