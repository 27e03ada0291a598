"""The progress display of the learning commands: plain lines (throttled) when not a terminal, rich when live."""

from __future__ import annotations

import io

from engines._commands._watch import Watch


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_plain_lines_are_throttled_but_phases_and_notes_always_print() -> None:
    stream, clock = io.StringIO(), Clock()
    with Watch("auto", label="flock optimize", stream=stream, interval=5.0, clock=clock) as watch:
        assert watch.mode == "plain"  # a StringIO is not a terminal
        watch.phase("optimizing", 4)
        watch.update(1, "best 50.0%")  # within 5 s of the phase line: not printed
        clock.now = 6.0
        watch.update(2, "best 75.0%")
        watch.update(2, "best 75.0%")  # nothing new
        watch.note("trial 3/4 candidate 'random 1': score 75.0%")
        watch.finish("best 75.0%")
    assert stream.getvalue().splitlines() == [
        "flock optimize: optimizing: started (4 steps)",
        "flock optimize: optimizing: 2/4 best 75.0%",
        "flock optimize: trial 3/4 candidate 'random 1': score 75.0%",
        "flock optimize: optimizing: done best 75.0%",
    ]


def test_live_mode_draws_a_bar_and_keeps_the_notes() -> None:
    stream = io.StringIO()
    with Watch("live", label="flock evaluate", stream=stream) as watch:
        watch.phase("scoring test", 3)
        watch.update(3, "score 66.7%")
        watch.note("a completed trial")
        watch.finish("score 66.7%")
    text = stream.getvalue()
    assert "scoring test" in text
    assert "3/3" in text
    assert "a completed trial" in text


def test_off_prints_nothing() -> None:
    stream = io.StringIO()
    with Watch("off", label="flock evaluate", stream=stream) as watch:
        watch.phase("scoring", 1)
        watch.note("x")
        watch.finish()
    assert stream.getvalue() == ""
