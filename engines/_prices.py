"""Model prices for cost budgets, from the price map bundled with LiteLLM (read from disk, never downloaded).

`import litellm` fetches the latest price map from GitHub unless `LITELLM_LOCAL_MODEL_COST_MAP=True`; so
this module never imports LiteLLM: it finds the installed package's folder (`importlib.util.find_spec`
does not run the package) and reads its `model_prices_and_context_window_backup.json`, once. The prices
are those of the installed LiteLLM version: upgrade LiteLLM, or pass `Budget(prices=...)`, for newer ones.
"""

from __future__ import annotations

import functools
import importlib.util
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from flock_core import Usage

__all__ = ["FREE_MODELS", "PRICE_MAP_FILE", "Price", "bundled_prices", "price_of"]

PRICE_MAP_FILE = "model_prices_and_context_window_backup.json"
FREE_MODELS = frozenset({"offline", "simulated"})
"""The in-process stand-in models: they cost nothing."""


@dataclass(frozen=True, slots=True)
class Price:
    """What a model charges, in US dollars per token.

    >>> Price(input=2e-06, output=8e-06).cost(Usage(1000, 500, 1))
    0.006
    """

    input: float
    output: float

    def cost(self, usage: Usage) -> float:
        """The price of `usage`'s tokens (rounded to a nano-dollar, so sums do not drift)."""
        return round(usage.input_tokens * self.input + usage.output_tokens * self.output, 9)


@functools.cache
def bundled_prices() -> Mapping[str, Price]:
    """Every chat model's price in the map bundled with the installed LiteLLM (empty without LiteLLM)."""
    spec = importlib.util.find_spec("litellm")
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in folders:
        path = Path(folder) / PRICE_MAP_FILE
        if path.exists():
            entries = cast(dict[str, dict[str, Any]], json.loads(path.read_text(encoding="utf-8")))
            return {
                name: Price(float(entry["input_cost_per_token"]), float(entry.get("output_cost_per_token", 0.0)))
                for name, entry in entries.items()
                if "input_cost_per_token" in entry
            }
    return {}


def price_of(model: str, overrides: Mapping[str, Price] | None = None) -> Price | None:
    """The price of `model` (a LiteLLM model name, `provider/name`), or `None` if it is unknown.

    `overrides` win; then the in-process stand-ins (free); then the bundled map, under the full name and
    without its provider prefix (`openai/gpt-4.1-mini` is priced as `gpt-4.1-mini`).

    >>> price_of("simulated")
    Price(input=0.0, output=0.0)
    >>> price_of("openai/my-model", {"openai/my-model": Price(1e-06, 2e-06)})
    Price(input=1e-06, output=2e-06)
    >>> price_of("acme/unknown-model") is None
    True
    """
    if overrides and model in overrides:
        return overrides[model]
    if model in FREE_MODELS:
        return Price(0.0, 0.0)
    prices = bundled_prices()
    _, _, bare = model.partition("/")
    return prices.get(model) or (prices.get(bare) if bare else None)
