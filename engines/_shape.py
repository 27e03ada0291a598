"""The shape of one activation's inputs: which types arrived, how many of each, and what came with them.

Two activations with the same shape get the same prompt fields, so the shape is the cache key of the
signature builder (together with the agent's declaration).
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from flock_core import AgentSpec, EvaluationRequest

__all__ = ["InputShape", "InputSlot"]


@dataclass(frozen=True, slots=True)
class InputSlot:
    """One input type of an activation.

    Attributes:
        type_name: the registered type name of the artifacts.
        model: their Pydantic model.
        count: how many artifacts of this type the activation received.
    """

    type_name: str
    model: type[BaseModel]
    count: int = 1


@dataclass(frozen=True, slots=True)
class InputShape:
    """What one activation received, in the agent's declaration order.

    Attributes:
        slots: one entry per input type, ordered by the agent's `.consumes(...)` declarations.
        batched: whether the inputs come from a batch subscription (a batch is always a list, even of one).
        has_context: whether context artifacts are passed along.
        repair: whether this is a repair attempt (the previous answer and its errors are passed along).

    >>> from pydantic import BaseModel
    >>> class Idea(BaseModel):
    ...     text: str
    >>> InputShape((InputSlot("Idea", Idea, 2),)).slots[0].count
    2
    """

    slots: tuple[InputSlot, ...] = ()
    batched: bool = False
    has_context: bool = False
    repair: bool = False

    @classmethod
    def of(cls, request: EvaluationRequest) -> InputShape:
        """The shape of `request`: its input types counted and ordered as the agent declares them."""
        counts: dict[str, int] = {}
        models: dict[str, type[BaseModel]] = {}
        for artifact, payload in zip(request.inputs, request.payloads, strict=True):
            counts[artifact.type] = counts.get(artifact.type, 0) + 1
            models.setdefault(artifact.type, type(payload))
        order = _declared_order(request.agent)
        names = sorted(counts, key=lambda name: (order.get(name, len(order)), name))
        return cls(
            slots=tuple(InputSlot(name, models[name], counts[name]) for name in names),
            batched=request.batched,
            has_context=bool(request.context),
            repair=request.attempt > 0,
        )


def _declared_order(agent: AgentSpec) -> dict[str, int]:
    order: dict[str, int] = {}
    for subscription in agent.subscriptions:
        for name in subscription.types:
            order.setdefault(name, len(order))
    return order
