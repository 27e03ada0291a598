"""Deterministic engines for tests and for users' own test suites."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import cast

from pydantic import BaseModel

from ..agents._engine import EvaluationRequest, EvaluationResult
from ..blackboard._registry import type_name_of
from ..exceptions import EngineError

__all__ = ["FunctionEngine", "Script", "ScriptedEngine"]

Outputs = Sequence[BaseModel]
EngineFunction = Callable[[EvaluationRequest], Outputs | EvaluationResult | Awaitable[Outputs | EvaluationResult]]


@dataclass(frozen=True, slots=True)
class Script:
    """Successive replies for one agent: call 1 gets `replies[0]`, and so on; the last one repeats.

    A reply that is an exception instance is raised instead of returned.
    """

    replies: tuple[Outputs | BaseException, ...]

    def __init__(self, *replies: Outputs | BaseException) -> None:
        if not replies:
            raise ValueError("Script() needs at least one reply")
        object.__setattr__(self, "replies", replies)


class ScriptedEngine:
    """Returns canned outputs, by agent name or by output type.

    Args:
        by_agent: agent name -> outputs returned on every call, or a `Script` of successive replies.
        by_type: output model -> an instance; each call returns `fan_out.low` copies per declared type.

    `requests` records every request, in order.

    >>> import anyio
    >>> from pydantic import BaseModel
    >>> class Note(BaseModel):
    ...     text: str
    >>> engine = ScriptedEngine(by_type={Note: Note(text="hi")})
    >>> engine.by_type_names
    ('Note',)
    """

    def __init__(
        self,
        by_agent: Mapping[str, Outputs | Script] | None = None,
        *,
        by_type: Mapping[type[BaseModel], BaseModel] | None = None,
    ) -> None:
        self._by_agent = dict(by_agent or {})
        self._by_type: dict[type[BaseModel], BaseModel] = dict(by_type or {})
        self._calls: dict[str, int] = {}
        self.requests: list[EvaluationRequest] = []

    @property
    def by_type_names(self) -> tuple[str, ...]:
        """The type names this engine has canned outputs for."""
        return tuple(sorted(type_name_of(model) for model in self._by_type))

    async def evaluate(self, request: EvaluationRequest) -> EvaluationResult:
        """Return the scripted reply for the agent, or the canned outputs for the group's types."""
        self.requests.append(request)
        name = request.agent.name
        call = self._calls.get(name, 0)
        self._calls[name] = call + 1
        reply = self._by_agent.get(name)
        if isinstance(reply, Script):
            chosen = reply.replies[min(call, len(reply.replies) - 1)]
            if isinstance(chosen, BaseException):
                raise chosen
            return EvaluationResult(list(chosen))
        if reply is not None:
            return EvaluationResult(list(reply))
        missing = [t for t, m in zip(request.group.types, request.group.models, strict=True) if m not in self._by_type]
        if missing:
            raise EngineError(name, f"ScriptedEngine has no reply for agent {name!r} or types {missing}")
        count = request.group.fan_out.low or 1
        return EvaluationResult([self._by_type[m] for m in request.group.models for _ in range(count)])


class FunctionEngine:
    """Wraps a function `fn(request) -> outputs` (sync or async) as an engine.

    The function may return a sequence of models or a full `EvaluationResult` (to report usage).
    """

    def __init__(self, fn: EngineFunction) -> None:
        self._fn = fn

    async def evaluate(self, request: EvaluationRequest) -> EvaluationResult:
        """Call the function and wrap its result."""
        result = self._fn(request)
        if isinstance(result, list):  # the common case: skip the awaitable check (an ABC check for a list)
            return EvaluationResult(list(cast("Outputs", result)))
        if inspect.isawaitable(result):
            result = await result
        if isinstance(result, EvaluationResult):
            return result
        return EvaluationResult(list(result))
