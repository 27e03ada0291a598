"""The DSPy LM and adapter an engine calls for a model."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import dspy
from dspy.adapters.baml_adapter import BAMLAdapter
from dspy.utils.callback import BaseCallback

from flock_core.exceptions import ConfigurationError

from ._adapters import CachedChatAdapter
from ._gated import GatedLM
from ._offline import OfflineLM
from ._recorder import LMRelay
from ._settings import LOCAL_MODELS, AdapterName, LMSettings
from ._telemetry import note_response

__all__ = ["ObservedLM", "make_adapter", "make_lm"]

_ADAPTERS: dict[str, Callable[[dspy.BaseLM], dspy.Adapter]] = {
    # ChatAdapter's silent second call with JSONAdapter after a parse error is off: a reply that does not
    # parse becomes a ContractViolation, and the core's repair attempt shows the model what went wrong.
    "chat": lambda lm: CachedChatAdapter(use_json_adapter_fallback=False),
    "json": lambda lm: dspy.JSONAdapter(),
    "xml": lambda lm: dspy.XMLAdapter(),
    "two_step": lambda lm: dspy.TwoStepAdapter(extraction_model=lm),
    "baml": lambda lm: BAMLAdapter(),
}


def make_lm(model: str, settings: LMSettings) -> dspy.BaseLM:
    """The offline model, or a `dspy.LM` for `model` with the engine's settings (`lm_kwargs` win).

    A `dspy.LM` carries an `LMRelay` callback (after any `callbacks` given in `lm_kwargs`), through which
    runs count its calls and trace them.
    """
    if model in LOCAL_MODELS:
        return OfflineLM(model)
    options: dict[str, Any] = {
        "temperature": settings.temperature,
        "max_tokens": settings.max_tokens,
        "num_retries": settings.num_retries,
        "timeout": settings.timeout,
        "cache": settings.cache,
        "engine": settings.backend,
    }
    if settings.api_base is not None:
        options["api_base"] = settings.api_base
    if settings.api_key is not None:
        options["api_key"] = settings.api_key
    extra = dict(settings.lm_kwargs)
    callbacks: list[BaseCallback] = [*(extra.pop("callbacks", None) or ()), LMRelay()]
    return ObservedLM(model, **{**options, **extra}, callbacks=callbacks)


class ObservedLM(GatedLM):
    """A `dspy.LM` that keeps no history: each call's record only names the response (id, model) for its span.

    Each call is admitted by the running evaluation's budgets first (`GatedLM`).

    DSPy hands every finished call to `update_history`; the default keeps up to 10,000 entries with
    prompts and replies in memory. Runs of this LM let DSPy record (`disable_history=False`) and this
    method keeps only the provider's response id and model, for the `chat` span's `gen_ai.response.*`.
    """

    def update_history(self, entry: dict[str, Any]) -> None:
        """Note the response's id and model for the call's span; store nothing."""
        note_response(entry.get("response"), entry.get("response_model"))


def make_adapter(adapter: AdapterName | dspy.Adapter, lm: dspy.BaseLM) -> dspy.Adapter:
    """The DSPy adapter named `adapter` (a `dspy.Adapter` instance is used as is). TwoStep extracts with `lm`."""
    if isinstance(adapter, dspy.Adapter):
        return adapter
    factory = _ADAPTERS.get(adapter)
    if factory is None:
        raise ConfigurationError(f"DSPyEngine adapter must be one of {sorted(_ADAPTERS)} or a dspy.Adapter")
    return factory(lm)
