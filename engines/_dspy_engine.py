"""`DSPyEngine`: the default engine. One DSPy call per output group, typed in and typed out."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from flock_core import EvaluationRequest, EvaluationResult
from flock_core.exceptions import ConfigurationError

from ._guard import check_model_request
from ._settings import (
    ADAPTER_NAMES,
    BACKEND_NAMES,
    LOCAL_MODELS,
    PROGRAM_NAMES,
    TOOL_CALLING_NAMES,
    AdapterName,
    BackendName,
    EngineSettings,
    LMSettings,
    ProgramName,
    ToolCalling,
    prepare_environment,
    resolve_model,
)

if TYPE_CHECKING:
    import dspy

    from ._session import DSPySession

__all__ = ["DSPyEngine"]


class DSPyEngine:
    """Produces an output group with one DSPy program call against a language model.

    The signature is built from the agent's declaration (see `engines.plan_signature`); the reply is
    parsed by the adapter into the declared Pydantic types. Constructing an engine imports neither DSPy
    nor LiteLLM; DSPy loads at the first `evaluate`.

    Args:
        model: a DSPy/LiteLLM model id (`"openai/gpt-4.1-mini"`, `"ollama_chat/llama3.2"`) or `"offline"`.
            `None` uses the Flock's model, then the `FLOCK_MODEL` environment variable.
        adapter: the prompt/reply format: `"chat"`, `"json"`, `"xml"`, `"two_step"`, `"baml"`, or a
            `dspy.Adapter` instance.
        temperature: sampling temperature (`None`: the provider's default).
        max_tokens: maximum output tokens per call (`None`: the provider's default).
        program: `"predict"`, `"chain_of_thought"` or `"react"`. Tools (here or on the agent) imply `"react"`.
        tools: functions (or `dspy.Tool`s) the model may call, in addition to the agent's own tools.
        max_tool_calls: the most tool-loop steps per call (`finish` included).
        tool_calling: how tools reach the model: `"auto"` (the provider's native function calling where the
            model supports it and the adapter is `"chat"`, else ReAct text), `"native"` or `"text"`.
        num_retries: retries of a failed request (rate limits, server errors, timeouts), with backoff.
        timeout: seconds before one request times out.
        cache: DSPy's response cache (off by default: its key ignores `api_base`).
        api_base: the base URL of an OpenAI-compatible server.
        api_key: the API key (default: the provider's environment variable, such as `OPENAI_API_KEY`).
        lm_kwargs: extra keyword arguments for `dspy.LM` (they override the settings above).
        backend: DSPy's HTTP client: `"auto"` (native when DSPy knows the provider, else LiteLLM),
            `"lm15"` (native only) or `"litellm"`.

    >>> DSPyEngine("offline", adapter="json", api_key="sk-secret")
    DSPyEngine(model='offline', adapter='json', program='predict')
    """

    def __init__(
        self,
        model: str | None = None,
        *,
        adapter: AdapterName | dspy.Adapter = "chat",
        temperature: float | None = None,
        max_tokens: int | None = None,
        program: ProgramName = "predict",
        tools: Sequence[Callable[..., Any]] = (),
        max_tool_calls: int = 5,
        tool_calling: ToolCalling = "auto",
        num_retries: int = 2,
        timeout: float = 60.0,
        cache: bool = False,
        api_base: str | None = None,
        api_key: str | None = None,
        lm_kwargs: Mapping[str, Any] | None = None,
        backend: BackendName = "auto",
    ) -> None:
        _check_choice("adapter", adapter, ADAPTER_NAMES, allow_object=True)
        _check_choice("program", program, PROGRAM_NAMES)
        _check_choice("backend", backend, BACKEND_NAMES)
        _check_choice("tool_calling", tool_calling, TOOL_CALLING_NAMES)
        if max_tool_calls < 1 or num_retries < 0 or timeout <= 0:
            raise ConfigurationError("DSPyEngine needs max_tool_calls >= 1, num_retries >= 0 and timeout > 0")
        lm = LMSettings(
            temperature=temperature,
            max_tokens=max_tokens,
            num_retries=num_retries,
            timeout=timeout,
            cache=cache,
            api_base=api_base,
            api_key=api_key,
            lm_kwargs=dict(lm_kwargs or {}),
            backend=backend,
        )
        self.settings = EngineSettings(model, adapter, program, tuple(tools), max_tool_calls, lm, tool_calling)
        self._session: DSPySession | None = None

    def __repr__(self) -> str:
        s = self.settings
        adapter = s.adapter if isinstance(s.adapter, str) else type(s.adapter).__name__
        return f"DSPyEngine(model={s.model!r}, adapter={adapter!r}, program={s.program!r})"

    async def evaluate(self, request: EvaluationRequest) -> EvaluationResult:
        """Produce `request.group` with one DSPy program run (plus tool-loop steps, when there are tools)."""
        agent = request.agent.name
        model = resolve_model(agent, self.settings.model, request.model)
        check_model_request(agent, model, self.settings.lm.base_url, offline=model in LOCAL_MODELS)
        prepare_environment()
        from opentelemetry import trace

        from ._telemetry import set_model_attributes  # imports DSPy, as the evaluation below does anyway

        set_model_attributes(trace.get_current_span(), model)
        return await self._dspy().evaluate(request, model)

    def _dspy(self) -> DSPySession:
        if self._session is None:
            from ._session import DSPySession  # dspy loads with the first evaluation, not with `import engines`

            self._session = DSPySession(self.settings)
        return self._session


def _check_choice(name: str, value: object, choices: tuple[str, ...], *, allow_object: bool = False) -> None:
    if (isinstance(value, str) and value not in choices) or (not isinstance(value, str) and not allow_object):
        raise ConfigurationError(f"DSPyEngine {name}={value!r} is not one of {', '.join(map(repr, choices))}")
