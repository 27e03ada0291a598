"""The options of a `Flock`, checked when it is created: a wrong one fails there, naming the fix.

Nothing is accepted that would later hang a run (`max_concurrency=0`) or fail at the first engine call
(`engine="offline"`, `model="ofline"`).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from datetime import timedelta

from .._clock import Clock, SystemClock
from ..agents._context import ContextProvider, CorrelationContext
from ..agents._engine import Engine, engine_problem
from ..blackboard._store import BlackboardStore
from ..blackboard.memory._store import InMemoryBlackboardStore
from ..exceptions import ConfigurationError

__all__ = ["FlockOptions", "check_model"]

OFFLINE_MODEL = "offline"
_STORE_METHODS = ("commit", "query", "get_many", "work", "lease")


def check_model(model: object, setting: str = "model") -> str | None:
    """A model id: `None`, `"offline"`, or `"provider/name"` as DSPy and LiteLLM take it.

    >>> check_model("openai/gpt-4.1-mini")
    'openai/gpt-4.1-mini'
    >>> check_model("ofline")
    Traceback (most recent call last):
    ...
    flock_core.exceptions.ConfigurationError: Flock(model='ofline'): did you mean 'offline'? ...
    """
    if model is None:
        return None
    where = f"Flock({setting}={model!r})"
    if not isinstance(model, str):
        raise ConfigurationError(
            f"{where}: a model id is a string such as 'openai/gpt-4.1-mini' or 'offline', got {type(model).__name__}",
            setting=setting,
        )
    provider, slash, name = model.partition("/")
    if model == OFFLINE_MODEL or (slash and provider.strip() and name.strip() and not any(c.isspace() for c in model)):
        return model
    if difflib.get_close_matches(model.lower(), [OFFLINE_MODEL], n=1, cutoff=0.7):
        hint = f"did you mean {OFFLINE_MODEL!r}? "
    else:
        hint = f"write the provider first, e.g. 'openai/{model.strip() or 'gpt-4.1-mini'}'; " if model.strip() else ""
    raise ConfigurationError(
        f"{where}: {hint}a model id is 'provider/name' (e.g. 'openai/gpt-4.1-mini', 'ollama_chat/llama3.2') "
        f"or {OFFLINE_MODEL!r}",
        setting=setting,
    )


def _count(setting: str, value: object, minimum: int) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value >= minimum:
        return value
    raise ConfigurationError(
        f"Flock({setting}={value!r}): {setting} must be an int >= {minimum}, e.g. {setting}={max(minimum, 4)}",
        setting=setting,
    )


def _lease(value: object) -> timedelta:
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = timedelta(seconds=value)
    if isinstance(value, timedelta) and value > timedelta(0):
        return value
    raise ConfigurationError(
        f"Flock(lease={value!r}): lease must be positive (seconds or a timedelta)", setting="lease"
    )


def _object(setting: str, value: object, ok: bool, wanted: str) -> None:
    if not ok:
        raise ConfigurationError(
            f"Flock({setting}=...) takes {wanted}, got {value!r} ({type(value).__name__})", setting=setting
        )


@dataclass(frozen=True, slots=True)
class FlockOptions:
    """A `Flock`'s checked options, defaults filled in (see `Flock` for what each one means)."""

    model: str | None
    store: BlackboardStore
    engine: Engine | None
    context: ContextProvider
    clock: Clock
    max_agent_iterations: int
    max_concurrency: int
    max_attempts: int
    lease: timedelta

    @classmethod
    def of(
        cls,
        *,
        model: object,
        store: object,
        engine: object,
        context: object,
        clock: object,
        max_agent_iterations: object,
        max_concurrency: object,
        max_attempts: object,
        lease: object,
    ) -> FlockOptions:
        """Check every option; raises `ConfigurationError` naming the first wrong one and its fix."""
        if engine is not None and (problem := engine_problem(engine)) is not None:
            raise ConfigurationError(f"Flock(engine=...): {problem}", setting="engine")
        _object("store", store, store is None or all(hasattr(store, m) for m in _STORE_METHODS), "a BlackboardStore")
        _object("context", context, context is None or isinstance(context, ContextProvider), "a ContextProvider")
        _object("clock", clock, clock is None or hasattr(clock, "now"), "a Clock (SystemClock, VirtualClock)")
        return cls(
            model=check_model(model),
            store=store if store is not None else InMemoryBlackboardStore(),  # pyright: ignore[reportArgumentType]
            engine=engine,  # pyright: ignore[reportArgumentType]
            context=context if context is not None else CorrelationContext(),  # pyright: ignore[reportArgumentType]
            clock=clock if clock is not None else SystemClock(),  # pyright: ignore[reportArgumentType]
            max_agent_iterations=_count("max_agent_iterations", max_agent_iterations, 1),
            max_concurrency=_count("max_concurrency", max_concurrency, 1),
            max_attempts=_count("max_attempts", max_attempts, 1),
            lease=_lease(lease),
        )
