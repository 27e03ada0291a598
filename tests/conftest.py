"""Session-wide test setup: no real network, and a local fake OpenAI server on demand."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from flock_core.testing import isolated_type_registry
from flock_core.testing._fake_openai import FakeOpenAIServer
from flock_core.testing._network import block_network


@pytest.fixture(autouse=True, scope="session")
def _network_blocked() -> Iterator[None]:
    """Make any non-loopback connection raise `NetworkBlockedError` for the whole session."""
    with block_network():
        yield


@pytest.fixture(autouse=True, scope="session")
def _dspy_cache_in_memory() -> None:
    """DSPy keeps no disk cache in tests: a cached answer from an earlier run would never reach the fake
    server, and its disk cache opens one SQLite connection per thread that only the garbage collector closes
    (Python 3.13 reports each as an unclosed database)."""
    import dspy

    dspy.configure_cache(enable_disk_cache=False, enable_memory_cache=True)


@pytest.fixture(autouse=True)
def _isolated_types() -> Iterator[None]:
    """`@flock_type` registrations made by a test (or a doc example) do not leak into the next one."""
    with isolated_type_registry():
        yield


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAIServer]:
    """A started `FakeOpenAIServer` answering "ok"; stopped after the test."""
    with FakeOpenAIServer() as server:
        yield server
