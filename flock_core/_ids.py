"""Time-ordered identifiers (UUID version 7, RFC 9562) without a third-party dependency."""

from __future__ import annotations

import os
import threading
import time
from uuid import UUID, SafeUUID

__all__ = ["new_id"]

_RANDOM_BATCH = 8 * 512
"""Bytes of `os.urandom` read at once: one system call serves 512 identifiers."""
_RAND_MASK = (1 << 62) - 1
_VERSION_AND_VARIANT = (0x7 << 76) | (0b10 << 62)
_set = object.__setattr__


class _State:
    lock = threading.Lock()
    last_ms = 0
    counter = 0
    random = b""
    offset = 0


def _forget_random() -> None:
    """A forked child must not reuse its parent's unread random bytes (they would repeat its identifiers)."""
    _State.random, _State.offset = b"", 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_random)


def new_id() -> UUID:
    """Return a new UUIDv7: 48 bits of Unix milliseconds, then a counter, then random bits.

    Identifiers made in one process sort in creation order, even within one millisecond. The random bits
    come from `os.urandom`, read in batches.

    >>> a, b = new_id(), new_id()
    >>> a < b and a.version == 7
    True
    """
    state = _State
    with state.lock:
        ms = time.time_ns() // 1_000_000
        if ms <= state.last_ms:
            ms = state.last_ms
            state.counter += 1
            if state.counter > 0xFFF:
                ms += 1
                state.counter = 0
        else:
            state.counter = 0
        state.last_ms = ms
        counter = state.counter
        offset = state.offset
        if offset >= len(state.random):
            state.random, offset = os.urandom(_RANDOM_BATCH), 0
        rand = int.from_bytes(state.random[offset : offset + 8], "big") & _RAND_MASK
        state.offset = offset + 8
    uuid = object.__new__(UUID)  # what `UUID(int=...)` does, without re-checking a value built in range
    _set(uuid, "int", (ms << 80) | _VERSION_AND_VARIANT | (counter << 64) | rand)
    _set(uuid, "is_safe", SafeUUID.unknown)
    return uuid
