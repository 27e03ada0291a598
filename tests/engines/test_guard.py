from __future__ import annotations

import pytest

from engines import ALLOW_MODEL_REQUESTS_ENV, model_requests_allowed, override_allow_model_requests
from engines._guard import check_model_request, is_loopback_url
from flock_core.exceptions import ConfigurationError


@pytest.mark.parametrize(
    ("value", "allowed"),
    [("0", False), ("false", False), (" OFF ", False), ("no", False), ("1", True), ("true", True), ("", True)],
)
def test_environment_variable(monkeypatch: pytest.MonkeyPatch, value: str, allowed: bool) -> None:
    monkeypatch.setenv(ALLOW_MODEL_REQUESTS_ENV, value)
    assert model_requests_allowed() is allowed


def test_unset_means_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ALLOW_MODEL_REQUESTS_ENV)
    assert model_requests_allowed()


def test_override_nests_and_restores() -> None:
    assert not model_requests_allowed()
    with override_allow_model_requests(True):
        assert model_requests_allowed()
        with override_allow_model_requests(False):
            assert not model_requests_allowed()
        assert model_requests_allowed()
    assert not model_requests_allowed()


@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        ("http://127.0.0.1:8000/v1", True),
        ("http://127.5.0.9/v1", True),
        ("http://localhost:11434", True),
        ("http://api.localhost/v1", True),
        ("http://[::1]:8000/v1", True),
        ("localhost:8000", True),
        ("https://api.openai.com/v1", False),
        ("http://10.0.0.1/v1", False),
        ("http://localhost.example.com", False),
        (None, False),
        ("", False),
    ],
)
def test_is_loopback_url(url: str | None, loopback: bool) -> None:
    assert is_loopback_url(url) is loopback


def test_check_model_request_allows_offline_and_loopback_only() -> None:
    check_model_request("a", "offline", None, offline=True)
    check_model_request("a", "openai/gpt-4.1-mini", "http://127.0.0.1:9/v1", offline=False)
    with pytest.raises(ConfigurationError) as caught:
        check_model_request("writer", "openai/gpt-4.1-mini", None, offline=False)
    assert str(caught.value).startswith("agent 'writer': real model requests are disabled")
    with override_allow_model_requests(True):
        check_model_request("writer", "openai/gpt-4.1-mini", None, offline=False)
