"""Capturing what a `Flock` publishes, for assertions in tests."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from pydantic import BaseModel

from ..blackboard._artifacts import Artifact

if TYPE_CHECKING:
    from .._flock import Flock

__all__ = ["CapturedArtifacts", "capture"]

M = TypeVar("M", bound=BaseModel)


class CapturedArtifacts:
    """Every artifact stored by a `Flock` since `capture()` was called, in order."""

    def __init__(self, flock: Flock) -> None:
        self._flock = flock
        self.artifacts: list[Artifact] = []
        self.stop = flock.add_listener(self.artifacts.append)

    def of(self, model: type[M]) -> list[M]:
        """Captured payloads of `model`'s type."""
        name = self._flock.registry.name_of(model)
        return [a.as_model(model) for a in self.artifacts if a.type == name]

    def types(self) -> list[str]:
        """The type names of the captured artifacts, in order."""
        return [a.type for a in self.artifacts]

    def by(self, agent: str) -> list[Artifact]:
        """Captured artifacts produced by `agent`."""
        return [a for a in self.artifacts if a.produced_by == agent]


def capture(flock: Flock) -> CapturedArtifacts:
    """Start recording every artifact `flock` stores."""
    return CapturedArtifacts(flock)
