"""Deterministic embeddings: hashed bags of words, served by `FakeOpenAIServer` and `HashedEmbedder`.

Texts that share words get close vectors (by cosine), texts without common words (nearly always)
orthogonal ones, so tests of semantic matching can reason about which texts match: no model, no randomness,
no network. Words are hashed into 1,024 buckets by default; two words rarely share one.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence
from typing import Any

__all__ = ["DEFAULT_DIMENSIONS", "HashedEmbedder", "embedding_response", "hashed_embedding"]

DEFAULT_DIMENSIONS = 1024
_WORD = re.compile(r"[a-z0-9]+")
_STOPWORDS = frozenset({
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "from", "has", "have", "i", "in", "is", "it",
    "its", "me", "my", "of", "on", "or", "our", "please", "so", "that", "the", "their", "this", "to", "was", "we",
    "were", "will", "with", "you", "your",
})  # fmt: skip


def _stem(word: str) -> str:
    """A crude stem, enough for tests: `refunds` and `refund` count as one word."""
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def hashed_embedding(text: str, dimensions: int = DEFAULT_DIMENSIONS) -> list[float]:
    """The unit vector of `text`'s word counts (lowercased, stop words dropped, stemmed), hashed into buckets.

    >>> from flock_core.agents._semantic import cosine
    >>> round(cosine(hashed_embedding("I want a refund"), hashed_embedding("refund request")), 2)
    0.5
    >>> cosine(hashed_embedding("refund"), hashed_embedding("login broken"))
    0.0
    """
    vector = [0.0] * dimensions
    for word in _WORD.findall(text.lower()):
        if word not in _STOPWORDS:
            digest = hashlib.blake2b(_stem(word).encode(), digest_size=8).digest()
            vector[int.from_bytes(digest, "big") % dimensions] += 1.0
    norm = math.sqrt(sum(x * x for x in vector))
    return [x / norm for x in vector] if norm else vector


def embedding_response(body: dict[str, Any]) -> tuple[list[str], dict[str, Any]] | None:
    """The texts of an OpenAI embeddings request and the response to send, or `None` if the body is invalid."""
    raw = body.get("input")
    texts: list[Any] = [raw] if isinstance(raw, str) else raw if isinstance(raw, list) else []  # pyright: ignore[reportUnknownVariableType]
    dimensions = body.get("dimensions", DEFAULT_DIMENSIONS)
    if not texts or not all(isinstance(t, str) for t in texts) or not isinstance(dimensions, int) or dimensions < 1:
        return None
    strings = [str(t) for t in texts]
    tokens = sum(len(_WORD.findall(t.lower())) for t in strings)
    data = [
        {"object": "embedding", "index": i, "embedding": hashed_embedding(t, dimensions)} for i, t in enumerate(strings)
    ]
    response = {
        "object": "list",
        "data": data,
        "model": str(body.get("model", "")),
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
    return strings, response


class HashedEmbedder:
    """An in-process `Embedder` test double with the fake server's vectors; it counts its calls.

    >>> import anyio
    >>> embedder = HashedEmbedder()
    >>> [len(v) for v in anyio.run(embedder.embed, ["refund", "login"])], embedder.texts
    ([1024, 1024], [['refund', 'login']])
    """

    def __init__(self, dimensions: int = DEFAULT_DIMENSIONS) -> None:
        self.dimensions = dimensions
        self.texts: list[list[str]] = []

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """The hashed bag-of-words vector of each text."""
        self.texts.append(list(texts))
        return [hashed_embedding(text, self.dimensions) for text in texts]
