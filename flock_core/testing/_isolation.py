"""Keeping `@flock_type` registrations made by one test (or doc example) out of the next."""

from __future__ import annotations

from collections.abc import Generator
from contextlib import contextmanager

from ..blackboard._registry import default_registry

__all__ = ["isolated_type_registry"]


@contextmanager
def isolated_type_registry() -> Generator[None]:
    """Undo every `@flock_type` registration made inside the block.

    >>> from pydantic import BaseModel
    >>> from flock_core import flock_type
    >>> with isolated_type_registry():
    ...     @flock_type
    ...     class Scratch(BaseModel):
    ...         x: int
    >>> "Scratch" in default_registry
    False
    """
    saved = default_registry.snapshot()
    try:
        yield
    finally:
        default_registry.restore(saved)
