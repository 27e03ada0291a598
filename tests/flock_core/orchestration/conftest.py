"""Shared fixtures of the orchestration tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from flock_core import BlackboardStore, InMemoryBlackboardStore, SQLiteBlackboardStore


@pytest.fixture(params=["memory", "sqlite"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[BlackboardStore]:
    """Each embedded store in turn (SQLite on a new file), closed after the test."""
    made: BlackboardStore = (
        InMemoryBlackboardStore() if request.param == "memory" else SQLiteBlackboardStore(tmp_path / "board.db")
    )
    yield made
    await made.close()
