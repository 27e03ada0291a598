"""Tests of `flock_core._ids`: time-ordered UUIDv7 identifiers."""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from uuid import UUID

from flock_core._ids import id_text, new_id


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


def test_ids_are_ordinary_uuids() -> None:
    uid = new_id()
    parsed = UUID(str(uid))
    assert parsed == uid
    assert hash(parsed) == hash(uid)
    assert parsed.is_safe == uid.is_safe


def test_random_bits_differ_between_ids() -> None:
    # Read in batches of os.urandom, each id still takes its own 62 random bits.
    rands = {new_id().int & ((1 << 62) - 1) for _ in range(2_000)}
    assert len(rands) == 2_000


def test_a_forked_child_does_not_repeat_its_parents_ids() -> None:
    import os

    new_id()  # the parent has unread random bytes now
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next ids go to the parent
        os.close(read)
        os.write(write, b"".join(new_id().bytes for _ in range(8)))
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        data = pipe.read()
    os.waitpid(pid, 0)
    child = {UUID(bytes=data[i : i + 16]).int & ((1 << 62) - 1) for i in range(0, len(data), 16)}
    parent = {new_id().int & ((1 << 62) - 1) for _ in range(8)}
    assert len(child) == 8
    assert not child & parent


def test_id_text_is_the_canonical_uuid_text() -> None:
    samples = [new_id() for _ in range(1_000)]
    samples += [UUID(int=0), UUID(int=(1 << 128) - 1), uuid.uuid4(), UUID("00000000-0000-7000-8000-00000000000f")]
    assert [id_text(u) for u in samples] == [str(u) for u in samples]


def test_ids_made_by_threads_at_once_are_unique_and_each_threads_increase() -> None:
    made: dict[int, list[UUID]] = {}

    def make(index: int) -> None:
        made[index] = [new_id() for _ in range(5_000)]

    threads = [threading.Thread(target=make, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [u for ids in made.values() for u in ids]
    assert len(set(every)) == len(every) == 20_000
    assert all(ids == sorted(ids) for ids in made.values())
