"""The progress view of `flock run`: counting a run's events, the live table, plain lines, the creation hook."""

from __future__ import annotations

import io
import re
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
import pytest
from pydantic import BaseModel
from rich.console import Console

from flock_core import ActivationFailed, EvaluationRequest, Flock
from flock_core.cli._progress import (
    AgentCounts,
    Failure,
    ProgressView,
    RunCounts,
    Snapshot,
    render,
    summary_line,
    watch_flock,
)
from flock_core.cli._run import every_new_flock
from flock_core.testing import FunctionEngine

ROOT = Path(__file__).resolve().parents[3]
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class Topic(BaseModel):
    name: str


class Idea(BaseModel):
    text: str


class Summary(BaseModel):
    text: str


def engine(request: EvaluationRequest) -> list[BaseModel]:
    if request.agent.name == "brainstorm":
        return [Idea(text=f"idea {i}") for i in range(3)]
    if request.agent.name == "summarise":
        [idea] = request.payloads
        assert isinstance(idea, Idea)
        return [Summary(text=idea.text)]
    raise RuntimeError("model down\nwith a second line")


def pipeline() -> Flock:
    """brainstorm (1 Topic -> 3 Ideas), summarise (one per Idea), archive (fails on each Summary)."""
    flock = Flock(engine=FunctionEngine(engine))
    for model in (Topic, Idea, Summary):
        flock.register_type(model)
    flock.agent("brainstorm").consumes(Topic).publishes(Idea, fan_out=3)
    flock.agent("summarise").consumes(Idea).publishes(Summary)
    flock.agent("archive").consumes(Summary).publishes(Topic)
    return flock


class FixedClock:
    """Seconds that only move when told to."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def elapsed_after(seconds: float) -> tuple[FixedClock, Callable[[], None]]:
    clock = FixedClock()

    def advance() -> None:
        clock.now += seconds

    return clock, advance


SUMMARY = (
    "10 artifacts (Topic 1, Idea 3, Summary 3, WorkflowError 3) · 7 activations: 0 running, 4 done, 3 failed "
    "(brainstorm: 1 done; summarise: 3 done; archive: 3 failed)"
)


# -- counting ----------------------------------------------------------------------------------------


def test_counts_a_real_run() -> None:
    flock, clock = pipeline(), FixedClock()
    counts = RunCounts(clock)
    unsubscribe = flock.events.subscribe(counts)
    flock.run(Topic(name="bees"))
    unsubscribe()
    clock.now += 2.5
    snapshot = counts.snapshot()
    assert snapshot.elapsed == 2.5
    assert snapshot.artifacts == {"Topic": 1, "Idea": 3, "Summary": 3, "WorkflowError": 3}
    assert list(snapshot.artifacts) == ["Topic", "Idea", "Summary", "WorkflowError"]  # in the order first seen
    assert snapshot.agents == {
        "brainstorm": AgentCounts(running=0, done=1, failed=0),
        "summarise": AgentCounts(running=0, done=3, failed=0),
        "archive": AgentCounts(running=0, done=0, failed=3),
    }
    assert snapshot.totals == AgentCounts(0, 4, 3)
    assert snapshot.failures == (Failure("archive", "RuntimeError", "model down\nwith a second line"),) * 3
    assert snapshot.failure_count == 3
    assert summary_line(snapshot, "flock run", final=True) == f"flock run: finished after 2.5 s · {SUMMARY}"


def _counted_thinker(engine: Callable[[EvaluationRequest], Awaitable[list[BaseModel]]]) -> tuple[Flock, RunCounts]:
    """A Flock whose agent `think` turns a Topic into an Idea through `engine`, with a `RunCounts` on its events."""
    flock = Flock(engine=FunctionEngine(engine))
    flock.register_type(Topic)
    flock.register_type(Idea)
    flock.agent("think").consumes(Topic).publishes(Idea)
    counts = RunCounts()
    flock.events.subscribe(counts)
    return flock, counts


def test_counts_running_activations() -> None:
    release, started = anyio.Event(), []

    async def slow(request: EvaluationRequest) -> list[BaseModel]:
        started.append(request.agent.name)
        await release.wait()
        return [Idea(text="done")]

    flock, counts = _counted_thinker(slow)

    async def main() -> None:
        async with anyio.create_task_group() as group:
            await flock.publish_many([Topic(name="a"), Topic(name="b")])
            group.start_soon(flock.run_until_idle)
            with anyio.fail_after(5):
                while len(started) < 2:  # noqa: ASYNC110 - polling the engine double
                    await anyio.sleep(0.01)
            assert counts.snapshot().agents == {"think": AgentCounts(running=2, done=0, failed=0)}
            release.set()
        assert counts.snapshot().agents == {"think": AgentCounts(running=0, done=2, failed=0)}

    anyio.run(main)


def test_activations_stopped_by_a_cancellation_are_counted_as_cancelled_not_running() -> None:
    started = []

    async def stuck(request: EvaluationRequest) -> list[BaseModel]:
        started.append(request.agent.name)
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    flock, counts = _counted_thinker(stuck)

    async def main() -> None:
        async with anyio.create_task_group() as group:
            await flock.publish_many([Topic(name="a"), Topic(name="b")], correlation_id="w")
            await flock.publish(Topic(name="other"), correlation_id="other")
            group.start_soon(flock.run_until_idle)
            with anyio.fail_after(5):
                while len(started) < 3:  # noqa: ASYNC110 - polling the engine double
                    await anyio.sleep(0.01)
            await flock.cancel("w", reason="enough")
            assert counts.snapshot().agents == {"think": AgentCounts(running=1, cancelled=2)}
            assert "3 activations: 1 running, 0 done, 0 failed, 2 cancelled" in summary_line(counts.snapshot())
            group.cancel_scope.cancel()

    anyio.run(main)


def test_streamed_tokens_are_not_a_change() -> None:
    from flock_core import TokenStreamed

    counts = RunCounts()
    counts(TokenStreamed("a", "key", "hello"))
    assert counts.snapshot().events == 0


# -- the live table ----------------------------------------------------------------------------------


def rendered(snapshot: Snapshot, width: int = 100) -> list[str]:
    console = Console(file=io.StringIO(), force_terminal=True, width=width)
    console.print(render(snapshot, "flock run"))
    assert isinstance(console.file, io.StringIO)
    return [line.rstrip() for line in ANSI.sub("", console.file.getvalue()).splitlines()]


def cells(line: str) -> list[str]:
    return re.split(r"\s{2,}", line.strip())


def test_render_shows_agents_counts_artifacts_and_failures() -> None:
    flock, clock = pipeline(), FixedClock()
    counts = RunCounts(clock)
    flock.events.subscribe(counts)
    flock.run(Topic(name="bees"))
    clock.now += 3.25
    lines = rendered(counts.snapshot())
    assert lines[0] == "flock run · 3.2 s · 10 artifacts · 0 running · 4 done · 3 failed"
    assert [cells(line) for line in lines[1:5]] == [
        ["agent", "running", "done", "failed"],
        ["brainstorm", "0", "1", "0"],
        ["summarise", "0", "3", "0"],
        ["archive", "0", "0", "3"],
    ]
    assert lines[5] == "artifacts Topic 1 · Idea 3 · Summary 3 · WorkflowError 3"
    assert lines[6] == "latest failures"
    assert [cells(line) for line in lines[7:]] == [["archive", "RuntimeError: model down"]] * 3


def test_render_keeps_the_latest_failures_and_long_messages_on_one_line() -> None:
    counts = RunCounts()
    for number in range(6):
        counts(ActivationFailed(f"agent{number}", f"k{number}", "c", "ValueError", f"bad {number} " + "x" * 300))
    lines = rendered(counts.snapshot(), width=80)
    failures = lines[lines.index("latest failures (3 earlier not shown)") + 1 :]
    assert [cells(line)[0] for line in failures] == ["agent3", "agent4", "agent5"]
    assert all(len(line) <= 80 and line.endswith("…") for line in failures)
    assert cells(failures[0])[1].startswith("ValueError: bad 3 xxx")


def test_an_empty_run_renders() -> None:
    assert rendered(RunCounts(FixedClock()).snapshot()) == [
        "flock run · 0.0 s · 0 artifacts · 0 running · 0 done · 0 failed",
        "agent  running  done  failed",
    ]


# -- the view: plain, live, off ----------------------------------------------------------------------


def test_plain_view_prints_failures_and_a_final_summary() -> None:
    out = io.StringIO()
    flock, clock = pipeline(), FixedClock()
    with ProgressView("plain", label="flock run", stream=out, clock=clock) as view:
        view.watch(flock)
        flock.run(Topic(name="bees"))
        clock.now += 1.0
    assert out.getvalue().splitlines() == [
        "flock run: archive failed: RuntimeError: model down",
        "flock run: archive failed: RuntimeError: model down",
        "flock run: archive failed: RuntimeError: model down",
        f"flock run: finished after 1.0 s · {SUMMARY}",
    ]
    assert flock.events._subscribers == []  # detached


def test_plain_view_prints_progress_only_when_something_changed() -> None:
    out, flock = io.StringIO(), pipeline()

    def lines() -> list[str]:
        return out.getvalue().splitlines()

    def wait_until(condition: Callable[[list[str]], bool]) -> None:
        deadline = time.monotonic() + 5
        while not condition(lines()) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert condition(lines()), lines()

    with ProgressView("plain", stream=out, interval=0.05) as view:
        time.sleep(0.2)
        assert lines() == []  # nothing watched yet
        view.watch(flock)
        flock.events.emit(ActivationFailed("archive", "k1", "c1", "KeyError", "'missing'"))
        wait_until(lambda printed: len(printed) == 2)
        time.sleep(0.3)  # six intervals without a change: no new line
        assert len(lines()) == 2
        assert lines()[0] == "flock: archive failed: KeyError: 'missing'"
        assert re.fullmatch(
            r"flock: \d+\.\d s · 0 artifacts · 1 activation: 0 running, 0 done, 1 failed \(archive: 1 failed\)",
            lines()[1],
        )
        flock.run(Topic(name="bees"))
        wait_until(lambda printed: "4 failed" in printed[-1])  # a progress line after the run
    printed = lines()
    assert printed.count("flock: archive failed: RuntimeError: model down") == 3  # each failure once
    assert re.fullmatch(
        r"flock: finished after \d+\.\d s · 10 artifacts \(Topic 1, Idea 3, Summary 3, WorkflowError 3\) · "
        r"8 activations: 0 running, 4 done, 4 failed \(archive: 4 failed; brainstorm: 1 done; summarise: 3 done\)",
        printed[-1],
    )
    assert not printed[-2].startswith("flock: finished")


def test_plain_view_says_how_many_failures_it_did_not_print() -> None:
    out, flock = io.StringIO(), pipeline()
    with ProgressView("plain", stream=out) as view:
        view.watch(flock)
        for number in range(7):
            flock.events.emit(ActivationFailed("archive", f"k{number}", "c", "RuntimeError", f"down {number}"))
    assert out.getvalue().splitlines()[:6] == [
        "flock: 2 earlier failures not shown",
        *[f"flock: archive failed: RuntimeError: down {number}" for number in range(2, 7)],
    ]


def test_live_view_draws_the_table_and_ends_with_a_summary_line() -> None:
    console = Console(file=io.StringIO(), force_terminal=True, width=120)
    flock = pipeline()
    with ProgressView("live", label="flock run", console=console, refresh_per_second=50) as view:
        view.watch(flock)
        flock.run(Topic(name="bees"))
        time.sleep(0.1)
    assert isinstance(console.file, io.StringIO)
    text = ANSI.sub("", console.file.getvalue())
    assert "brainstorm" in text
    assert "summarise" in text
    assert "latest failures" in text
    last = text.rstrip().splitlines()[-1]
    assert re.fullmatch(rf"flock run: finished after \d+\.\d s · {re.escape(SUMMARY)}", last)
    assert flock.events._subscribers == []


def test_off_view_neither_subscribes_nor_prints(capsys: pytest.CaptureFixture[str]) -> None:
    flock = pipeline()
    with ProgressView("off") as view:
        view.watch(flock)
        assert flock.events._subscribers == []
        flock.run(Topic(name="bees"))
    assert capsys.readouterr() == ("", "")


def test_a_view_that_watched_nothing_prints_nothing() -> None:
    out = io.StringIO()
    with ProgressView("plain", stream=out):
        pass
    assert out.getvalue() == ""


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_auto_mode_is_live_on_a_terminal_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "xterm-256color")
    assert ProgressView("auto", stream=Terminal()).mode == "live"
    assert ProgressView("auto", stream=io.StringIO()).mode == "plain"
    monkeypatch.setenv("TERM", "dumb")
    assert ProgressView("auto", stream=Terminal()).mode == "plain"
    with pytest.raises(ValueError, match="progress mode must be one of auto, live, plain, off, got 'loud'"):
        ProgressView("loud")  # type: ignore[arg-type]


def test_watch_flock_attaches_a_view_to_one_flock(capsys: pytest.CaptureFixture[str]) -> None:
    flock = pipeline()
    with watch_flock(flock, "plain", label="flock worker"):
        assert len(flock.events._subscribers) == 1
        flock.run(Topic(name="bees"))
    assert flock.events._subscribers == []
    err = capsys.readouterr().err.splitlines()
    assert err[-1].startswith("flock worker: finished after ")
    assert err[-1].endswith(SUMMARY)


def test_handler_only_counts() -> None:
    """The event handler does no I/O: a view whose display never runs still counts, and fast."""
    out, flock = io.StringIO(), pipeline()
    view = ProgressView("plain", stream=out, interval=3600)
    view.watch(flock)
    started = time.perf_counter()
    for number in range(20_000):
        flock.events.emit(ActivationFailed("archive", f"k{number}", "c", "RuntimeError", "down"))
    assert time.perf_counter() - started < 2  # about 1 µs per event on a laptop
    assert view.counts.snapshot().failure_count == 20_000
    assert out.getvalue() == ""
    view.close()


# -- the Flock creation hook -------------------------------------------------------------------------


def test_every_new_flock_sees_flocks_created_in_its_block_only() -> None:
    seen: list[Flock] = []
    before = Flock()
    with every_new_flock(seen.append):
        inside = Flock()
        in_thread: list[Flock] = []
        thread = threading.Thread(target=lambda: in_thread.append(Flock()))
        thread.start()
        thread.join()
    after = Flock()
    assert seen == [inside, *in_thread]
    assert before not in seen
    assert after not in seen
    with pytest.raises(KeyError), every_new_flock(seen.append):
        raise KeyError("the hook is removed on errors too")
    Flock()
    assert len(seen) == 2


def test_rich_is_not_imported_by_the_cli_until_a_live_view_starts() -> None:
    code = (
        "import sys, flock_core.cli._main, flock_core.cli._progress as p;"
        "v = p.ProgressView('plain', stream=open('/dev/null', 'w'));"
        "v.watch(flock_core.Flock()); v.__enter__(); v.close();"
        "print('rich' in sys.modules)"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    assert completed.stdout == "False\n"
