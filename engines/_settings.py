"""The engine's choices and settings, and which model a call uses. Nothing here loads DSPy.

Model resolution: the engine's `model`, else the Flock's (`EvaluationRequest.model`), else the
`FLOCK_MODEL` environment variable, else `ConfigurationError`. `"offline"` selects the offline model,
`"simulated"` the simulated model (both in-process); any other string is a DSPy/LiteLLM model id such as
`openai/gpt-4.1-mini`, `anthropic/claude-sonnet-4-5` or `ollama_chat/llama3.2`.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, get_args

from flock_core.exceptions import ConfigurationError

if TYPE_CHECKING:
    import dspy

__all__ = [
    "ADAPTER_NAMES",
    "BACKEND_NAMES",
    "LOCAL_MODELS",
    "MODEL_ENV",
    "OFFLINE_MODEL",
    "PROGRAM_NAMES",
    "SIMULATED_MODEL",
    "TOOL_CALLING_NAMES",
    "AdapterName",
    "BackendName",
    "EngineSettings",
    "LMSettings",
    "ProgramName",
    "ToolCalling",
    "prepare_environment",
    "resolve_model",
]

AdapterName = Literal["chat", "json", "xml", "two_step", "baml"]
"""How prompts and replies are formatted: DSPy's Chat, JSON, XML, TwoStep or BAML adapter."""
BackendName = Literal["auto", "lm15", "litellm"]
"""DSPy's HTTP client: `"auto"` (its native lm15 client when it knows the provider, else LiteLLM)."""
ProgramName = Literal["predict", "chain_of_thought", "react"]
"""The DSPy module that produces the outputs: `dspy.Predict`, `dspy.ChainOfThought` or `dspy.ReAct`."""

ToolCalling = Literal["auto", "native", "text"]
"""How tools reach the model: `"native"` function calling (a `tools` request field), `"text"` (ReAct: tools in
the prompt), or `"auto"`: native where the model supports it and the adapter is `"chat"`, else text."""

ADAPTER_NAMES: tuple[str, ...] = get_args(AdapterName)
TOOL_CALLING_NAMES: tuple[str, ...] = get_args(ToolCalling)
BACKEND_NAMES: tuple[str, ...] = get_args(BackendName)
PROGRAM_NAMES: tuple[str, ...] = get_args(ProgramName)
OFFLINE_MODEL = "offline"
SIMULATED_MODEL = "simulated"
"""The simulated model (`engines._simulated`): offline, its answers follow the demos and rules in its prompt."""
LOCAL_MODELS = frozenset({OFFLINE_MODEL, SIMULATED_MODEL})
"""The models that answer in-process, with no key and no network."""
MODEL_ENV = "FLOCK_MODEL"
_COST_MAP_ENV = "LITELLM_LOCAL_MODEL_COST_MAP"


@dataclass(frozen=True, slots=True)
class LMSettings:
    """The settings of every DSPy LM an engine creates (see `DSPyEngine` for their meaning)."""

    temperature: float | None = None
    max_tokens: int | None = None
    num_retries: int = 2
    timeout: float = 60.0
    cache: bool = False
    api_base: str | None = None
    api_key: str | None = field(default=None, repr=False)
    lm_kwargs: Mapping[str, Any] = field(default_factory=dict[str, Any])
    backend: BackendName = "auto"

    @property
    def base_url(self) -> str | None:
        """The server the LM will call, when one is set (`lm_kwargs` win, as they do for `dspy.LM`).

        >>> LMSettings(api_base="http://a/v1", lm_kwargs={"base_url": "http://b/v1"}).base_url
        'http://b/v1'
        """
        for key in ("base_url", "api_base"):
            value = self.lm_kwargs.get(key)
            if isinstance(value, str) and value:
                return value
        return self.api_base


@dataclass(frozen=True, slots=True)
class EngineSettings:
    """Everything a `DSPyEngine` was configured with (see `DSPyEngine` for the meaning of each)."""

    model: str | None = None
    adapter: AdapterName | dspy.Adapter = "chat"
    program: ProgramName = "predict"
    tools: tuple[Callable[..., Any], ...] = ()
    max_tool_calls: int = 5
    lm: LMSettings = field(default_factory=LMSettings)
    tool_calling: ToolCalling = "auto"


def resolve_model(agent: str, engine_model: str | None, flock_model: str | None) -> str:
    """The model for one call: the engine's, else the Flock's, else `$FLOCK_MODEL`.

    >>> resolve_model("writer", None, "offline")
    'offline'
    """
    model = engine_model or flock_model or os.environ.get(MODEL_ENV, "").strip()
    if not model:
        raise ConfigurationError(
            f"agent {agent!r}: no model configured. Pass DSPyEngine(model='openai/gpt-4.1-mini'), "
            f"Flock(model=...), or set the {MODEL_ENV} environment variable; use model='offline' for "
            "deterministic synthetic outputs without a key or network"
        )
    return model


@functools.cache
def prepare_environment() -> None:
    """Keep LiteLLM and DSPy from downloading the model price list (done once, at first engine use).

    Both fetch it from GitHub on first use unless `LITELLM_LOCAL_MODEL_COST_MAP=True`: offline or behind a
    firewall that costs failed requests with retries, or a 5 s timeout. A value set by the user wins.
    """
    os.environ.setdefault(_COST_MAP_ENV, "True")
