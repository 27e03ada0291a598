"""Who is calling: API keys, custom authenticators, and the anonymous identity of an open server."""

from __future__ import annotations

import hmac
import inspect
from collections.abc import Awaitable, Callable, Mapping
from typing import TypeAlias

from starlette.requests import Request

from ..blackboard._visibility import AgentIdentity

__all__ = ["ANONYMOUS", "ApiKeys", "Auth", "Authenticator", "authenticate"]

ANONYMOUS = AgentIdentity("anonymous")
"""The identity of every caller when a server runs with `auth=None`: no labels, no tenant.

It sees public artifacts (and artifacts made private to an agent literally named `"anonymous"`).
"""

Authenticator: TypeAlias = Callable[[Request], AgentIdentity | Awaitable[AgentIdentity | None] | None]
"""A function `(request) -> AgentIdentity | None` (sync or async); `None` rejects the call with 401."""


class ApiKeys:
    """Maps API keys to identities; a caller sends `Authorization: Bearer <key>` or `X-API-Key: <key>`.

    Keys are compared in constant time.

    >>> keys = ApiKeys({"s3cret": AgentIdentity("ops", tenant="acme")})
    >>> keys.identity_for("s3cret")
    AgentIdentity(name='ops', labels=frozenset(), tenant='acme')
    >>> keys.identity_for("guess") is None
    True
    """

    def __init__(self, keys: Mapping[str, AgentIdentity]) -> None:
        if any(not key for key in keys):
            raise ValueError("API keys must not be empty strings")
        self._keys = dict(keys)

    def identity_for(self, key: str) -> AgentIdentity | None:
        """The identity of `key`, or `None` when no key matches."""
        found: AgentIdentity | None = None
        for candidate, identity in self._keys.items():
            if hmac.compare_digest(candidate.encode(), key.encode()):
                found = identity
        return found

    def __call__(self, request: Request) -> AgentIdentity | None:
        key = presented_key(request)
        return None if key is None else self.identity_for(key)


Auth: TypeAlias = ApiKeys | Authenticator | None
"""What `create_app(auth=...)` accepts: `None` (anonymous), `ApiKeys`, or an `Authenticator`."""


def presented_key(request: Request) -> str | None:
    """The key in `Authorization: Bearer <key>` or `X-API-Key`, if any."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    key = request.headers.get("x-api-key", "").strip()
    return key or None


async def authenticate(request: Request, auth: Auth) -> AgentIdentity | None:
    """The caller's identity under `auth`; `None` means missing or invalid credentials."""
    if auth is None:
        return ANONYMOUS
    result = auth(request)
    if inspect.isawaitable(result):
        result = await result
    return result if isinstance(result, AgentIdentity) else None
