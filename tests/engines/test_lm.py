from __future__ import annotations

import dspy
import pytest
from dspy.adapters.baml_adapter import BAMLAdapter
from dspy.utils.callback import BaseCallback

from engines._adapters import CachedChatAdapter
from engines._lm import make_adapter, make_lm
from engines._offline import OfflineLM
from engines._recorder import LMRelay
from engines._settings import LMSettings
from flock_core.exceptions import ConfigurationError


def test_offline_model() -> None:
    assert isinstance(make_lm("offline", LMSettings(api_base="http://ignored")), OfflineLM)


def test_settings_reach_dspy_lm_and_lm_kwargs_win() -> None:
    settings = LMSettings(
        temperature=0.2,
        max_tokens=300,
        num_retries=4,
        timeout=9.0,
        api_base="http://127.0.0.1:1/v1",
        api_key="sk-x",
        lm_kwargs={"top_p": 0.5, "max_tokens": 100},
        backend="litellm",
    )
    lm = make_lm("openai/gpt-4.1-mini", settings)
    assert isinstance(lm, dspy.LM)
    assert lm.num_retries == 4
    assert lm.cache is False
    assert lm.engine == "litellm"
    assert lm.kwargs == {
        "temperature": 0.2,
        "max_tokens": 100,
        "timeout": 9.0,
        "api_base": "http://127.0.0.1:1/v1",
        "api_key": "sk-x",
        "top_p": 0.5,
    }


def test_every_lm_carries_a_relay_after_the_users_callbacks() -> None:
    mine = BaseCallback()
    lm = make_lm("openai/gpt-4.1-mini", LMSettings(lm_kwargs={"callbacks": [mine]}))
    assert lm.callbacks[0] is mine
    assert [type(c) for c in lm.callbacks] == [BaseCallback, LMRelay]
    assert "callbacks" not in lm.kwargs


def test_unset_client_settings_are_not_passed() -> None:
    lm = make_lm("openai/gpt-4.1-mini", LMSettings())
    assert "api_base" not in lm.kwargs
    assert "api_key" not in lm.kwargs


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("chat", CachedChatAdapter),  # DSPy's ChatAdapter, its system message built once per signature
        ("json", dspy.JSONAdapter),
        ("xml", dspy.XMLAdapter),
        ("two_step", dspy.TwoStepAdapter),
        ("baml", BAMLAdapter),
    ],
)
def test_adapters_by_name(name: str, kind: type[dspy.Adapter]) -> None:
    lm = OfflineLM()
    adapter = make_adapter(name, lm)  # pyright: ignore[reportArgumentType]
    assert type(adapter) is kind


def test_chat_adapter_does_not_silently_retry_with_json() -> None:
    adapter = make_adapter("chat", OfflineLM())
    assert isinstance(adapter, dspy.ChatAdapter)
    assert adapter.use_json_adapter_fallback is False


def test_two_step_extracts_with_the_same_lm() -> None:
    lm = OfflineLM()
    adapter = make_adapter("two_step", lm)
    assert isinstance(adapter, dspy.TwoStepAdapter)
    assert adapter.extraction_model is lm


def test_adapter_instances_are_used_as_is_and_others_refused() -> None:
    mine = dspy.XMLAdapter()
    assert make_adapter(mine, OfflineLM()) is mine
    with pytest.raises(ConfigurationError):
        make_adapter(object(), OfflineLM())  # pyright: ignore[reportArgumentType]
