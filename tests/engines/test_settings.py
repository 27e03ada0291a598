from __future__ import annotations

import os

import pytest

from engines._settings import LMSettings, prepare_environment, resolve_model
from flock_core.exceptions import ConfigurationError


def test_engine_model_wins_then_flock_then_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOCK_MODEL", "env/model")
    assert resolve_model("a", "engine/model", "flock/model") == "engine/model"
    assert resolve_model("a", None, "flock/model") == "flock/model"
    assert resolve_model("a", None, None) == "env/model"


def test_missing_model_names_every_way_to_set_one() -> None:
    with pytest.raises(ConfigurationError) as caught:
        resolve_model("writer", None, None)
    message = str(caught.value)
    assert message.startswith("agent 'writer': no model configured")
    for hint in ("DSPyEngine(model=", "Flock(model=", "FLOCK_MODEL", "model='offline'"):
        assert hint in message


def test_blank_environment_value_is_no_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOCK_MODEL", "  ")
    with pytest.raises(ConfigurationError):
        resolve_model("a", None, None)


def test_prepare_environment_keeps_litellm_and_dspy_from_downloading_prices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LITELLM_LOCAL_MODEL_COST_MAP", raising=False)
    prepare_environment.cache_clear()
    prepare_environment()
    assert os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] == "True"


def test_prepare_environment_respects_the_users_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "False")
    prepare_environment.cache_clear()
    prepare_environment()
    assert os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] == "False"


def test_base_url_comes_from_lm_kwargs_first() -> None:
    assert LMSettings().base_url is None
    assert LMSettings(api_base="http://a").base_url == "http://a"
    assert LMSettings(api_base="http://a", lm_kwargs={"api_base": "http://c"}).base_url == "http://c"


def test_lm_settings_repr_hides_the_key() -> None:
    assert "secret" not in repr(LMSettings(api_key="secret"))


def test_flocks_default_model_variable_is_read_after_flock_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEFAULT_MODEL", "openai/gpt-4.1")
    assert resolve_model("a", None, None) == "openai/gpt-4.1"
    monkeypatch.setenv("FLOCK_MODEL", "offline")
    assert resolve_model("a", None, None) == "offline"
    assert resolve_model("a", None, "anthropic/claude-sonnet-4-5") == "anthropic/claude-sonnet-4-5"
