"""Embeddings for semantic subscriptions: computed once per artifact (and field), cached per Flock.

Routing awaits `SemanticIndex.prepare` before the (synchronous) scheduler runs, so the embedding call is
async I/O off the scheduler's path; the scheduler then reads similarities with `SemanticIndex.similarity`.
A failed embedding is remembered as the failure, and the scheduler rejects on it: never a silent match.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from uuid import UUID

from ..agents._semantic import Embedder, Semantic, artifact_text, cosine, load_default_embedder
from ..blackboard._artifacts import Artifact
from ..exceptions import EmbeddingError

__all__ = ["SemanticIndex"]

_log = logging.getLogger("flock_core.semantic")

Vector = tuple[float, ...]
_ArtifactKey = tuple[UUID, str | None]


class SemanticIndex:
    """The Flock's embedder and its caches: artifact texts by `(artifact id, field)`, queries by text.

    Args:
        embedder: the embedder, or `None` to load the default one on first use.
        max_artifacts: how many artifact embeddings to keep (least recently used go first).
        load_default: finds the default embedder (the `flock_core.embedders` entry point).
    """

    def __init__(
        self,
        embedder: Embedder | None = None,
        *,
        max_artifacts: int = 10_000,
        load_default: Callable[[], Embedder] = load_default_embedder,
    ) -> None:
        self._embedder = embedder
        self._load_default = load_default
        self._max = max_artifacts
        self._artifacts: OrderedDict[_ArtifactKey, Vector | EmbeddingError] = OrderedDict()
        self._queries: dict[str, Vector] = {}
        self.calls = 0

    async def prepare(self, artifact: Artifact, conditions: Iterable[Semantic]) -> None:
        """Embed what `conditions` need of `artifact` (and their queries) that is not cached yet."""
        needed = list(conditions)
        fields = [f for f in dict.fromkeys(c.field for c in needed) if (artifact.id, f) not in self._artifacts]
        queries = [q for q in dict.fromkeys(c.query for c in needed) if q not in self._queries]
        if not fields and not queries:
            return
        texts = [artifact_text(artifact.payload, f) for f in fields]
        for f, text in zip(fields, texts, strict=True):
            if not text.strip():
                where = "the artifact" if f is None else f"field {f!r}"
                self._remember((artifact.id, f), EmbeddingError(f"{where} has no text to compare by meaning"))
        fields = [f for f, text in zip(fields, texts, strict=True) if text.strip()]
        texts = [*(t for t in texts if t.strip()), *queries]
        if not texts:
            return
        try:
            vectors = await self._embed(texts)
        except EmbeddingError as error:
            _log.warning("embedding artifact %s failed: %s", artifact.id, error)
            for f in fields:
                self._remember((artifact.id, f), error)
            return
        for f, vector in zip(fields, vectors, strict=False):
            self._remember((artifact.id, f), vector)
        for query, vector in zip(queries, vectors[len(fields) :], strict=True):
            self._queries[query] = vector

    def similarity(self, artifact: Artifact, condition: Semantic) -> float | EmbeddingError:
        """The cosine similarity of the artifact's text and the query, or why it could not be computed."""
        vector = self._artifacts.get((artifact.id, condition.field))
        query = self._queries.get(condition.query)
        if isinstance(vector, EmbeddingError):
            return vector
        if vector is None or query is None:
            return EmbeddingError(f"no embedding of artifact {artifact.id} for {condition.query!r}")
        self._artifacts.move_to_end((artifact.id, condition.field))
        try:
            return cosine(vector, query)
        except ValueError as error:
            return EmbeddingError(f"embeddings do not compare: {error}")

    async def _embed(self, texts: Sequence[str]) -> list[Vector]:
        self.calls += 1
        try:
            if self._embedder is None:
                self._embedder = self._load_default()
            vectors = await self._embedder.embed(texts)
        except EmbeddingError:
            raise
        except Exception as error:
            raise EmbeddingError(f"the embedder raised {type(error).__name__}: {error}") from error
        if len(vectors) != len(texts):
            raise EmbeddingError(f"the embedder returned {len(vectors)} vectors for {len(texts)} texts")
        return [tuple(float(x) for x in v) for v in vectors]

    def _remember(self, key: _ArtifactKey, value: Vector | EmbeddingError) -> None:
        self._artifacts[key] = value
        self._artifacts.move_to_end(key)
        while len(self._artifacts) > self._max:
            self._artifacts.popitem(last=False)
