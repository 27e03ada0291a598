"""Time-ordered identifiers (UUID version 7, RFC 9562) without a third-party dependency."""

from __future__ import annotations

import os
import threading
import time
from uuid import UUID

__all__ = ["new_id"]


class _State:
    lock = threading.Lock()
    last_ms = 0
    counter = 0


def new_id() -> UUID:
    """Return a new UUIDv7: 48 bits of Unix milliseconds, then a counter, then random bits.

    Identifiers made in one process sort in creation order, even within one millisecond.

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
    rand = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (ms << 80) | (0x7 << 76) | (counter << 64) | (0b10 << 62) | rand
    return UUID(int=value)
