"""`LiteLLMEmbedder`: embeddings for semantic subscriptions through LiteLLM, like the engine's model calls."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any, cast

from flock_core.exceptions import ConfigurationError, EmbeddingError

from ._guard import ALLOW_MODEL_REQUESTS_ENV, is_loopback_url, model_requests_allowed
from ._settings import prepare_environment

__all__ = ["EMBEDDING_MODEL_ENV", "LiteLLMEmbedder"]

EMBEDDING_MODEL_ENV = "FLOCK_EMBEDDING_MODEL"


class LiteLLMEmbedder:
    """Embeds texts with an embedding model through `litellm.aembedding` (any provider LiteLLM supports).

    It is the default embedder of a `Flock` (registered in the `flock_core.embedders` entry-point group).
    Real provider calls obey the same switch as the engine (`FLOCK_ALLOW_MODEL_REQUESTS`); a loopback
    `api_base`, such as `flock_core.testing.FakeOpenAIServer`, is always allowed.

    Args:
        model: the embedding model, e.g. `"openai/text-embedding-3-small"`; `None` reads `$FLOCK_EMBEDDING_MODEL`.
        api_base: the base URL of an OpenAI-compatible server.
        api_key: the provider key (default: LiteLLM reads the provider's environment variable).
        timeout: seconds per request.
        num_retries: LiteLLM's retries of a failed request.
        litellm_kwargs: passed to `litellm.aembedding` as is (they win over the options above).
    """

    def __init__(
        self,
        model: str | None = None,
        *,
        api_base: str | None = None,
        api_key: str | None = None,
        timeout: float = 30.0,
        num_retries: int = 2,
        litellm_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        self.model = model
        self.api_base = api_base
        self._api_key = api_key
        self._options: dict[str, Any] = {"timeout": timeout, "num_retries": num_retries, **(litellm_kwargs or {})}

    def __repr__(self) -> str:
        return f"LiteLLMEmbedder(model={self.model!r}, api_base={self.api_base!r})"

    def resolve_model(self) -> str:
        """The model to call: the one given, else `$FLOCK_EMBEDDING_MODEL`.

        Raises:
            ConfigurationError: neither is set.
        """
        model = self.model or os.environ.get(EMBEDDING_MODEL_ENV, "").strip()
        if not model:
            raise ConfigurationError(
                "semantic subscriptions need an embedding model: pass Flock(embedder=LiteLLMEmbedder("
                f"'openai/text-embedding-3-small')), set {EMBEDDING_MODEL_ENV}, or plug in your own Embedder"
            )
        return model

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text, from one `litellm.aembedding` request."""
        model = self.resolve_model()
        if not (is_loopback_url(self.api_base) or model_requests_allowed()):
            raise ConfigurationError(
                f"real model requests are disabled ({ALLOW_MODEL_REQUESTS_ENV}=0 or override_allow_model_requests"
                f"(False)) but the embedder would call {model!r}; use a loopback api_base (for example "
                "flock_core.testing.FakeOpenAIServer) or allow model requests"
            )
        prepare_environment()
        import litellm  # heavy: loads on the first embedding, never at import

        options = dict(self._options)
        if self.api_base is not None:
            options.setdefault("api_base", self.api_base)
        if self._api_key is not None:
            options.setdefault("api_key", self._api_key)
        response = await litellm.aembedding(model=model, input=list(texts), **options)
        data: list[Any] = list(response.data)  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
        return _vectors(data, len(texts))


def _vectors(data: Sequence[Any], expected: int) -> list[list[float]]:
    """The vectors of an embedding response, in input order (providers may reorder them by `index`)."""
    items: list[tuple[int, list[object]]] = []
    for position, item in enumerate(data):
        index, vector = _get(item, "index"), _get(item, "embedding")
        if isinstance(vector, list):
            items.append((index if isinstance(index, int) else position, cast(list[object], vector)))
    if len(items) != expected:
        raise EmbeddingError(f"the embedding response has {len(items)} usable vectors for {expected} texts")
    try:
        return [[float(cast(float, x)) for x in vector] for _, vector in sorted(items, key=lambda pair: pair[0])]
    except (TypeError, ValueError) as error:
        raise EmbeddingError(f"the embedding response holds a non-number: {error}") from error


def _get(item: object, key: str) -> object:
    if isinstance(item, Mapping):
        return cast(Mapping[str, object], item).get(key)
    return getattr(item, key, None)
