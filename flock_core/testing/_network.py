"""A guard that makes every non-loopback network connection fail loudly, for test sessions.

`block_network()` patches `socket.socket.connect`, `socket.socket.connect_ex`, `socket.create_connection`
and `socket.getaddrinfo` for as long as it is active; anything that would reach a host other than
`127.0.0.0/8`, `::1` or `localhost` (Unix sockets are always allowed) raises `NetworkBlockedError`.
Nothing is patched at import time.

```python
import socket

with block_network():
    try:
        socket.create_connection(("example.com", 80))
    except NetworkBlockedError as error:
        assert str(error) == "tests may only connect to loopback; tried example.com:80"
```

`NetworkBlockedError` is a `RuntimeError`, not an `OSError`, so that clients which retry or fall back on
connection errors do not swallow it.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Generator
from contextlib import contextmanager
from typing import Any, cast

__all__ = ["NetworkBlockedError", "block_network"]

_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})
_MISSING = object()


class NetworkBlockedError(RuntimeError):
    """A test tried to reach a host that is not loopback while `block_network()` was active.

    Attributes:
        host: The host (name or address) that was refused.
        port: The port that was refused, if known.
    """

    def __init__(self, host: str, port: object = None) -> None:
        self.host = host
        self.port = port
        shown = f"[{host}]" if ":" in host else host
        super().__init__(f"tests may only connect to loopback; tried {shown}:{port}")


def _is_loopback(host: str | bytes) -> bool:
    """Whether `host` names or is a loopback address."""
    name = host.decode("ascii", "replace") if isinstance(host, bytes) else host
    name = name.strip("[]").split("%", 1)[0].rstrip(".").lower()
    if name in _LOOPBACK_NAMES or name.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def _check_address(family: int, address: Any) -> None:
    """Raise `NetworkBlockedError` unless `address` (as given to `connect`) is loopback or a Unix socket."""
    if family == getattr(socket, "AF_UNIX", None):
        return
    if family in {socket.AF_INET, socket.AF_INET6} and isinstance(address, tuple) and address:
        parts = cast(tuple[object, ...], address)
        host, port = str(parts[0]), parts[1] if len(parts) > 1 else None
        if _is_loopback(host):
            return
        raise NetworkBlockedError(host, port)
    raise NetworkBlockedError(repr(cast(object, address)))


def _guarded_connect(original: Callable[..., Any]) -> Callable[..., Any]:
    def connect(self: socket.socket, address: Any) -> Any:
        _check_address(self.family, address)
        return original(self, address)

    return connect


def _guarded_create_connection(original: Callable[..., socket.socket]) -> Callable[..., socket.socket]:
    def create_connection(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        host, port = address[0], address[1]
        if not _is_loopback(host):
            raise NetworkBlockedError(str(host), port)
        return original(address, *args, **kwargs)

    return create_connection


def _guarded_getaddrinfo(original: Callable[..., Any]) -> Callable[..., Any]:
    def getaddrinfo(host: str | bytes | None, port: object, *args: Any, **kwargs: Any) -> Any:
        # A missing host resolves to the wildcard or loopback address (used to bind servers).
        if host not in {None, "", b""} and not _is_loopback(host):  # pyright: ignore[reportArgumentType]
            shown = host.decode("ascii", "replace") if isinstance(host, bytes) else str(host)
            raise NetworkBlockedError(shown, port)
        return original(host, port, *args, **kwargs)

    return getaddrinfo


@contextmanager
def block_network() -> Generator[None]:
    """Make every non-loopback connection raise `NetworkBlockedError` while the block is active.

    Usable as a context manager or a decorator; blocks nest, and each restores what it replaced.

    Yields:
        Nothing; the guard is active inside the `with` block.
    """
    sock = socket.socket
    patches: list[tuple[object, str, Callable[..., Any]]] = [
        (sock, "connect", _guarded_connect(sock.connect)),
        (sock, "connect_ex", _guarded_connect(sock.connect_ex)),
        (socket, "create_connection", _guarded_create_connection(socket.create_connection)),
        (socket, "getaddrinfo", _guarded_getaddrinfo(socket.getaddrinfo)),
    ]
    saved = [(target, name, vars(target).get(name, _MISSING)) for target, name, _ in patches]
    for target, name, replacement in patches:
        setattr(target, name, replacement)
    try:
        yield
    finally:
        for target, name, original in reversed(saved):
            if original is _MISSING:
                delattr(target, name)
            else:
                setattr(target, name, original)
