"""Declarations are checked at every start (each publish starts the Flock), also after a change."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from flock_core import Flock
from flock_core.exceptions import AgentDeclarationError
from flock_core.testing import FunctionEngine

pytestmark = pytest.mark.anyio


class Note(BaseModel):
    text: str


class Review(BaseModel):
    verdict: str


async def test_an_agent_declared_after_the_start_is_checked_at_the_next_publish() -> None:
    flock = Flock(engine=FunctionEngine(lambda request: [Review(verdict="ok")]))
    flock.register_type(Note)
    flock.agent("reviewer").consumes(Note).publishes(Review)
    await flock.publish(Note(text="first"))
    mute = flock.agent("mute").consumes(Note)  # publishes nothing: its engine would never be called
    with pytest.raises(AgentDeclarationError, match="mute"):
        await flock.publish(Note(text="second"))
    mute.publishes(Review)  # fixed: the builder updates the declaration
    await flock.publish(Note(text="third"))
    await flock.run_until_idle()
    assert len(await flock.get_by_type(Review)) == 3  # the reviewer's two, and mute's on the third note
