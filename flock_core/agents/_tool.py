"""`@flock_tool`: Flock's decorator for functions handed to `with_tools()`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from ..exceptions import ConfigurationError

__all__ = ["flock_tool"]

F = TypeVar("F", bound=Callable[..., Any])


def flock_tool(func: F) -> F:
    """Mark `func` as an agent tool and return it unchanged (any callable works with `with_tools()`).

    The engine describes the tool to the model by the function's name, signature and docstring, so
    give it type hints and a docstring.

    >>> @flock_tool
    ... def get_current_date() -> str:
    ...     '''Today's date, YYYY-MM-DD.'''
    ...     return "2026-12-04"
    >>> get_current_date()
    '2026-12-04'
    """
    if not callable(func):
        raise ConfigurationError(f"@flock_tool decorates a function, got {func!r}")
    return func
