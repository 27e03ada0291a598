"""A switch that makes real model requests fail loudly, for test suites.

Requests are allowed unless the environment variable `FLOCK_ALLOW_MODEL_REQUESTS` is `0`, `false`, `no`
or `off`; `override_allow_model_requests(...)` overrides both for the current task (and the tasks it
starts). The offline model and servers on a loopback address (a local fake server, a local Ollama) are
always allowed, since they cost nothing and leave the machine.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Generator
from contextlib import contextmanager
from contextvars import ContextVar
from urllib.parse import urlsplit

from flock_core.exceptions import ConfigurationError

__all__ = [
    "ALLOW_MODEL_REQUESTS_ENV",
    "check_model_request",
    "is_loopback_url",
    "model_requests_allowed",
    "override_allow_model_requests",
]

ALLOW_MODEL_REQUESTS_ENV = "FLOCK_ALLOW_MODEL_REQUESTS"
_FALSE = frozenset({"0", "false", "no", "off"})
_override: ContextVar[bool | None] = ContextVar("flock_allow_model_requests", default=None)


def model_requests_allowed() -> bool:
    """Whether `DSPyEngine` may call a non-local model right now.

    >>> with override_allow_model_requests(False):
    ...     model_requests_allowed()
    False
    """
    override = _override.get()
    if override is not None:
        return override
    return os.environ.get(ALLOW_MODEL_REQUESTS_ENV, "").strip().lower() not in _FALSE


@contextmanager
def override_allow_model_requests(allowed: bool) -> Generator[None]:
    """Allow or forbid real model requests inside the `with` block (task-local, nests)."""
    token = _override.set(allowed)
    try:
        yield
    finally:
        _override.reset(token)


def is_loopback_url(url: str | None) -> bool:
    """Whether `url` points at this machine.

    >>> is_loopback_url("http://127.0.0.1:8000/v1"), is_loopback_url("https://api.openai.com/v1")
    (True, False)
    """
    if not url:
        return False
    host = (urlsplit(url if "//" in url else f"//{url}").hostname or "").rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_model_request(agent: str, model: str, api_base: str | None, *, offline: bool) -> None:
    """Raise `ConfigurationError` if a request to `model` is forbidden by the switch."""
    if offline or is_loopback_url(api_base) or model_requests_allowed():
        return
    raise ConfigurationError(
        f"agent {agent!r}: real model requests are disabled ({ALLOW_MODEL_REQUESTS_ENV}=0 or "
        f"override_allow_model_requests(False)) but the engine would call {model!r}; use model='offline', "
        "a loopback api_base (for example flock_core.testing.FakeOpenAIServer), or allow model requests"
    )
