"""Model prices from LiteLLM's bundled price map, read from the installed package, never downloaded.

LiteLLM ships `model_prices_and_context_window_backup.json` and, unless `LITELLM_LOCAL_MODEL_COST_MAP`
is set, replaces it at import with a copy fetched from GitHub. Prices here are read from the bundled
file directly (located without importing LiteLLM), so a budget's cost is the same offline, behind a
firewall and in tests, and matches the LiteLLM version installed.
"""

from __future__ import annotations

import functools
import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path

from ._settings import LOCAL_MODELS

__all__ = ["Price", "cost_of", "price_of"]

_PRICE_FILE = "model_prices_and_context_window_backup.json"


@dataclass(frozen=True, slots=True)
class Price:
    """US dollars per input and per output token."""

    input_per_token: float
    output_per_token: float

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        """The cost of a call with these token counts."""
        return input_tokens * self.input_per_token + output_tokens * self.output_per_token


_FREE = Price(0.0, 0.0)


@functools.cache
def _price_map() -> dict[str, dict[str, object]]:
    spec = importlib.util.find_spec("litellm")  # finds the package without running its import-time download
    locations = list(spec.submodule_search_locations or ()) if spec is not None else []
    for location in locations:
        path = Path(location) / _PRICE_FILE
        if path.exists():
            loaded: dict[str, dict[str, object]] = json.loads(path.read_text(encoding="utf-8"))
            return loaded
    return {}


def price_of(model: str) -> Price | None:
    """The price of `model` (a LiteLLM model id); the offline models are free; `None` when unknown.

    >>> price_of("openai/gpt-4.1-mini")
    Price(input_per_token=4e-07, output_per_token=1.6e-06)
    >>> price_of("offline"), price_of("ollama_chat/no-such-model")
    (Price(input_per_token=0.0, output_per_token=0.0), None)
    """
    if model in LOCAL_MODELS:
        return _FREE
    prices = _price_map()
    entry = prices.get(model)
    if entry is None and "/" in model:
        provider, name = model.split("/", 1)
        candidate = prices.get(name)
        if candidate is not None and candidate.get("litellm_provider") in (provider, f"text-completion-{provider}"):
            entry = candidate
    if entry is None:
        return None
    input_cost, output_cost = entry.get("input_cost_per_token"), entry.get("output_cost_per_token")
    if not isinstance(input_cost, int | float) or not isinstance(output_cost, int | float):
        return None
    return Price(float(input_cost), float(output_cost))


def cost_of(model: str, input_tokens: int, output_tokens: int) -> float:
    """What a call to `model` with these token counts cost in US dollars (0.0 when its price is unknown)."""
    price = price_of(model)
    return price.cost(input_tokens, output_tokens) if price is not None else 0.0
