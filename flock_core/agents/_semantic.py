"""Semantic subscriptions: match artifacts by meaning, through an embedder.

The core owns the `Embedder` protocol and the `Semantic` condition; an implementation is passed to
`Flock(embedder=...)` or found through the `flock_core.embedders` entry point (flockboard registers
`engines.LiteLLMEmbedder`, which calls LiteLLM's embedding API with the same model stack as the engine).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, cast, runtime_checkable

from ..exceptions import ConfigurationError

__all__ = ["EMBEDDER_ENTRY_POINT_GROUP", "Embedder", "Semantic", "artifact_text", "cosine", "load_default_embedder"]

EMBEDDER_ENTRY_POINT_GROUP = "flock_core.embedders"


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into vectors; texts with similar meaning should get close vectors (by cosine).

    A local model plugs in by implementing this one method; it is called once per artifact (and field)
    and once per semantic query, never on the event loop's thread for blocking work of its own.
    """

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text, in order."""
        ...


@dataclass(frozen=True, slots=True)
class Semantic:
    """A subscription condition: the artifact (or one of its fields) means something close to `query`.

    Args:
        query: what the text should be about, for example `"refund request"`.
        threshold: the least cosine similarity between the text's and the query's embeddings, in [-1, 1].
        field: match only this payload field's text; `None` matches the whole artifact's text.

    >>> Semantic("refund request", threshold=0.6, field="body")
    Semantic(query='refund request', threshold=0.6, field='body')
    """

    query: str
    threshold: float = 0.5
    field: str | None = None


def cosine(left: Sequence[float], right: Sequence[float]) -> float:
    """The cosine similarity of two vectors (0.0 when either is all zeros).

    >>> cosine([1.0, 0.0], [1.0, 0.0]), cosine([1.0, 0.0], [0.0, 2.0])
    (1.0, 0.0)
    """
    if len(left) != len(right):
        raise ValueError(f"vectors of different lengths: {len(left)} and {len(right)}")
    dot = math.fsum(a * b for a, b in zip(left, right, strict=True))
    norm = math.sqrt(math.fsum(a * a for a in left)) * math.sqrt(math.fsum(b * b for b in right))
    return 0.0 if norm == 0.0 else dot / norm


def artifact_text(payload: Mapping[str, Any], field: str | None) -> str:
    """The text that is embedded: one field's value, or every string value of the payload, one per line.

    >>> artifact_text({"title": "Refund", "body": "money back please", "id": 7}, None)
    'Refund\\nmoney back please'
    >>> artifact_text({"title": "Refund", "id": 7}, "id")
    '7'
    """
    if field is not None:
        value = payload.get(field)
        return value if isinstance(value, str) else "" if value is None else str(value)
    return "\n".join(_strings(payload))


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [s for item in cast(Mapping[object, object], value).values() for s in _strings(item)]
    if isinstance(value, list | tuple):
        return [s for item in cast(Sequence[object], value) for s in _strings(item)]
    return []


def load_default_embedder() -> Embedder:
    """Instantiate the embedder registered as `default` in the `flock_core.embedders` entry-point group.

    Raises:
        ConfigurationError: no installed distribution registers a default embedder.
    """
    from importlib.metadata import entry_points  # scanning installed packages is slow: only when resolving

    for entry_point in entry_points(group=EMBEDDER_ENTRY_POINT_GROUP, name="default"):
        factory = entry_point.load()
        return factory()
    raise ConfigurationError(
        f"no default embedder: no installed package registers one in the {EMBEDDER_ENTRY_POINT_GROUP!r} "
        "entry-point group (install flockboard, which registers LiteLLMEmbedder, or pass Flock(embedder=...))"
    )
