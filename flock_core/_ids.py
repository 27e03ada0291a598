"""Time-ordered identifiers (UUID version 7, RFC 9562) without a third-party dependency."""

from __future__ import annotations

import os
import struct
import threading
import time
from uuid import UUID, SafeUUID

__all__ = ["id_text", "new_id"]

_RANDOM_BATCH = 8 * 512
"""Bytes of `os.urandom` read at once: one system call serves 512 identifiers."""
_RAND_MASK = (1 << 62) - 1
_VERSION_AND_VARIANT = (0x7 << 76) | (0b10 << 62)
_new = object.__new__
_set_int = UUID.__dict__["int"].__set__  # the slots' own setters: `UUID.__setattr__` refuses, and these are
_set_is_safe = UUID.__dict__["is_safe"].__set__  # cheaper than `object.__setattr__` by name
_time_ns = time.time_ns
_UNKNOWN = SafeUUID.unknown


class _State:
    """The generator's state, shared by every thread under its lock (an instance: setting a class's
    attributes costs more, it invalidates the type's caches)."""

    __slots__ = ("counter", "last_ms", "lock", "random")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.last_ms = 0
        self.counter = 0
        self.random: list[int] = []  # 62 random bits each, taken from the end


_state = _State()


def _forget_random() -> None:
    """A forked child must not reuse its parent's unread random bytes (they would repeat its identifiers)."""
    _state.random = []


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_random)


_UNPACK = struct.Struct(f">{_RANDOM_BATCH // 8}Q").unpack


def _refill() -> list[int]:
    return [value & _RAND_MASK for value in _UNPACK(os.urandom(_RANDOM_BATCH))]


def new_id() -> UUID:
    """Return a new UUIDv7: 48 bits of Unix milliseconds, then a counter, then random bits.

    Identifiers made in one process sort in creation order, even within one millisecond. The random bits
    come from `os.urandom`, read in batches.

    >>> a, b = new_id(), new_id()
    >>> a < b and a.version == 7
    True
    """
    state = _state
    with state.lock:
        ms = _time_ns() // 1_000_000
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
        if not state.random:
            state.random = _refill()
        rand = state.random.pop()
    uuid = _new(UUID)  # what `UUID(int=...)` does, without re-checking a value built in range
    _set_int(uuid, (ms << 80) | _VERSION_AND_VARIANT | (counter << 64) | rand)
    _set_is_safe(uuid, _UNKNOWN)
    return uuid


def id_text(uuid: UUID) -> str:
    """`str(uuid)` (the canonical 8-4-4-4-12 lowercase hex form) in two thirds of its time.

    An artifact's id names its workflow and keys its work items, once or twice per step.

    >>> u = new_id()
    >>> id_text(u) == str(u)
    True
    """
    digits = uuid.int.to_bytes(16, "big").hex()
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"
