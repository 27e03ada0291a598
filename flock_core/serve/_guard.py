"""The app's outer guard: `Host` and `Origin` checks for an open server, security headers, JSON for crashes.

A server without authentication trusts whoever can reach it, so it must only be reachable as itself: a
request whose `Host` is not one of the allowed names (DNS rebinding) or that comes from a page of
another origin (a cross-site request from the user's browser) is refused with 403 before any route runs.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ._http import ApiError, error_response

__all__ = ["LOOPBACK_HOSTS", "SECURITY_HEADERS", "Guard", "host_name"]

_log = logging.getLogger("flock_core.serve")

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
"""The host names an open (unauthenticated) server answers to unless told otherwise."""

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
"""Headers set on every response: no framing, no sniffing, scripts and styles from the server only."""

_RAW_SECURITY_HEADERS = tuple(
    (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in SECURITY_HEADERS.items()
)

_REMEMBERED_HOSTS = 64
"""`Host` values whose check a guard remembers (a client naming ever new ones only empties the memory)."""


def host_name(value: str) -> str | None:
    """The host name in a `Host` header value (`name`, `name:port`, `[v6]:port`), lower case; `None` if bad.

    >>> host_name("LocalHost:8344"), host_name("[::1]:80"), host_name("a b")
    ('localhost', '::1', None)
    """
    try:
        parsed = urlsplit(f"//{value.strip()}")
        name, _ = parsed.hostname, parsed.port  # `.port` raises on a malformed port
    except ValueError:
        return None
    return name if name and " " not in value.strip() else None


class Guard:
    """ASGI middleware: checks `Host`/`Origin` (when `allowed_hosts` is given) and adds `SECURITY_HEADERS`.

    An exception escaping the app becomes a 500 in the documented JSON error shape (and is logged).
    """

    def __init__(self, app: ASGIApp, *, allowed_hosts: Collection[str] | None) -> None:
        self.app = app
        self.allowed_hosts = None if allowed_hosts is None else frozenset(h.lower() for h in allowed_hosts)
        self._host_allowed: dict[str, bool] = {}  # `Host` value -> whether it names an allowed host

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = None if self.allowed_hosts is None else self._refusal(scope["headers"], self.allowed_hosts)
        started = False

        async def secured(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", ()))
                present = {name for name, _ in headers}  # ASGI header names are lower case
                headers.extend(header for header in _RAW_SECURITY_HEADERS if header[0] not in present)
                message["headers"] = headers
            await send(message)

        if refusal is not None:
            await error_response(refusal)(scope, receive, secured)
            return
        try:
            await self.app(scope, receive, secured)
        except Exception:  # noqa: BLE001 - any crash answers in the documented error shape, never a text/plain 500
            _log.exception("unhandled error in %s %s", scope.get("method"), scope.get("path"))
            if not started:
                crash = ApiError(500, "internal_error", "the server failed to handle the request (see its log)")
                await error_response(crash)(scope, receive, secured)

    def _refusal(self, raw: Iterable[tuple[bytes, bytes]], allowed_hosts: frozenset[str]) -> ApiError | None:
        host = origin = None
        for name, value in raw:  # the first of each, as `Headers.get` reads them
            if name == b"host" and host is None:
                host = value.decode("latin-1")
            elif name == b"origin" and origin is None:
                origin = value.decode("latin-1")
        if not self._allows_host(host or "", allowed_hosts):
            return ApiError(403, "forbidden_host", "this server does not answer to that Host name")
        if origin is not None and (urlsplit(origin).hostname or "").lower() not in allowed_hosts:
            return ApiError(403, "forbidden_origin", "requests from pages of other origins are refused")
        return None

    def _allows_host(self, value: str, allowed_hosts: frozenset[str]) -> bool:
        """Whether a `Host` header value names an allowed host (parsed once per value: clients send few)."""
        allowed = self._host_allowed.get(value)
        if allowed is None:
            if len(self._host_allowed) >= _REMEMBERED_HOSTS:
                self._host_allowed.clear()
            allowed = self._host_allowed[value] = host_name(value) in allowed_hosts
        return allowed
