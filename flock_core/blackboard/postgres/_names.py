"""How a board is named on the server: its schema identifier, its advisory lock keys, a store's tenant."""

from __future__ import annotations

import hashlib
import re

from ...exceptions import ConfigurationError

__all__ = ["advisory_key", "check_identifier", "check_tenant"]

_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,47}")


def advisory_key(*parts: str) -> int:
    """A stable signed 64-bit advisory lock key for `parts` (the same in every process)."""
    digest = hashlib.blake2b("\x1f".join(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def check_identifier(schema: str) -> str:
    """`schema` if it is a plain lower-case identifier (it is written into SQL and channel names)."""
    if not _IDENTIFIER.fullmatch(schema):
        raise ConfigurationError(
            f"PostgresBlackboardStore(schema=...) must match {_IDENTIFIER.pattern} (lower case), got {schema!r}"
        )
    return schema


def check_tenant(tenant: str | None) -> str | None:
    """`tenant` if it is `None` or a non-empty printable string (it scopes every connection of a store)."""
    if tenant is not None and (not tenant or not tenant.isprintable()):
        raise ConfigurationError(f"a tenant must be a non-empty printable string, got {tenant!r}")
    return tenant
