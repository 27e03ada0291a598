"""The event bus tells emitters whether anyone listens, and whether anyone wants tokens, at every moment."""

from __future__ import annotations

from flock_core import FlockEvent, TokenStreamed
from flock_core.orchestration._events import EventBus


def test_listening_and_streaming_follow_every_subscribe_and_unsubscribe() -> None:
    bus = EventBus()
    seen: list[FlockEvent] = []
    assert (bus.listening, bus.streaming) == (False, False)
    drop_counts = bus.subscribe(seen.append)
    drop_tokens = bus.subscribe(seen.append, tokens=True)
    assert (bus.listening, bus.streaming) == (True, True)
    drop_tokens()
    assert (bus.listening, bus.streaming) == (True, False)
    bus.emit(TokenStreamed("writer", "work-1", "Once"))
    assert seen == []  # nobody wants tokens any more
    drop_counts()
    assert (bus.listening, bus.streaming) == (False, False)
    second = bus.subscribe(seen.append, tokens=True)
    assert (bus.listening, bus.streaming) == (True, True)
    second()
    assert (bus.listening, bus.streaming) == (False, False)
