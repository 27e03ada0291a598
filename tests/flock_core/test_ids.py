"""Tests of `flock_core._ids`: time-ordered UUIDv7 identifiers."""

from __future__ import annotations

import itertools
import time
from uuid import UUID

from flock_core._ids import new_id


def test_version_and_variant_bits() -> None:
    uid = new_id()
    assert isinstance(uid, UUID)
    assert (uid.version, uid.variant) == (7, "specified in RFC 4122")
    assert (uid.int >> 76) & 0xF == 0x7
    assert (uid.int >> 62) & 0b11 == 0b10


def test_timestamp_is_unix_milliseconds() -> None:
    before = time.time_ns() // 1_000_000
    uid = new_id()
    after = time.time_ns() // 1_000_000
    # The counter may roll a millisecond over when many ids are made at once, hence the +1.
    assert before <= uid.int >> 80 <= after + 1


def test_ids_made_in_a_tight_loop_are_strictly_increasing() -> None:
    ids = [new_id() for _ in range(10_000)]
    assert all(a < b for a, b in itertools.pairwise(ids))
    assert ids == sorted(ids)
    assert all(a.bytes < b.bytes for a, b in itertools.pairwise(ids))


def test_ids_are_unique() -> None:
    ids = [new_id() for _ in range(10_000)]
    assert len(set(ids)) == len(ids)
