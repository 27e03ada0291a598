"""A progress view of a Flock's run on stderr: elapsed time, artifacts, activations per agent, failures.

`flock run` attaches one `ProgressView` to every Flock its script creates; `watch_flock(flock)` attaches one
to a single Flock (for `flock worker`). The view subscribes to `flock.events`; its handler only counts
(under a lock, no I/O, no rendering), and the display reads a snapshot when it refreshes:

- `live`: a `rich.live.Live` display on stderr, refreshed a few times per second;
- `plain`: for logs and pipes, one summary line every few seconds when something changed, and one line
  per new failure;
- `off`: nothing.

With `tokens=True` (`flock run --stream`, `flock worker --stream`) the view also shows what the running
activations stream: a line each in the live display when stdout is a terminal too, else plain lines on
stdout, one per line of model output, prefixed with the activation (see `_tokens`).

Closing the view (leaving its `with` block) unsubscribes and prints a final summary line, if it watched a
Flock. `rich` is imported only when a live display starts, never by `import flock_core`.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Literal, Self, TextIO, get_args

from ..orchestration._events import (
    ActivationFailed,
    ActivationFinished,
    ActivationStarted,
    ArtifactPublished,
    FlockEvent,
    WorkflowCancelled,
)
from ._tokens import Printer, Transcript, Transcripts, line_writer

if TYPE_CHECKING:
    from rich.console import Console, RenderableType
    from rich.live import Live
    from rich.text import Text

    from .._flock import Flock

__all__ = [
    "PROGRESS_MODES",
    "AgentCounts",
    "Failure",
    "ProgressMode",
    "ProgressView",
    "RunCounts",
    "Snapshot",
    "add_progress_argument",
    "failure_line",
    "format_elapsed",
    "render",
    "summary_line",
    "watch_flock",
]

ProgressMode = Literal["auto", "live", "plain", "off"]
PROGRESS_MODES: tuple[ProgressMode, ...] = get_args(ProgressMode)

_FAILURES_KEPT = 5
_FAILURES_SHOWN = 3
_MESSAGE_CHARS = 200


@dataclass(frozen=True, slots=True)
class AgentCounts:
    """One agent's activations: running now, finished, failed, stopped by a workflow's cancellation."""

    running: int = 0
    done: int = 0
    failed: int = 0
    cancelled: int = 0


@dataclass(frozen=True, slots=True)
class Failure:
    """A failed activation: the agent, the exception's type and its message."""

    agent: str
    error_type: str
    message: str


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What a run did so far; agents and artifact types in the order they were first seen."""

    elapsed: float
    artifacts: dict[str, int]
    agents: dict[str, AgentCounts]
    failures: tuple[Failure, ...]
    """The latest few failures, oldest first."""
    failure_count: int
    events: int
    """How many events were counted (a change marker for the plain display)."""

    @property
    def totals(self) -> AgentCounts:
        """Activations of all agents together."""
        counts = self.agents.values()
        return AgentCounts(
            sum(c.running for c in counts),
            sum(c.done for c in counts),
            sum(c.failed for c in counts),
            sum(c.cancelled for c in counts),
        )


@dataclass(slots=True)
class _Agent:
    running: dict[str, str] = field(default_factory=dict[str, str])
    """Running activations: work key -> workflow."""
    done: int = 0
    failed: int = 0
    cancelled: set[str] = field(default_factory=set[str])
    """Activations stopped by their workflow's cancellation (a late end event moves one back out)."""

    def ended(self, work_key: str) -> None:
        self.running.pop(work_key, None)
        self.cancelled.discard(work_key)

    def cancel(self, correlation_id: str) -> None:
        stopped = [key for key, workflow in self.running.items() if workflow == correlation_id]
        for key in stopped:
            del self.running[key]
        self.cancelled.update(stopped)


class RunCounts:
    """Counts a run's events; call it with each event (it is an `EventBus` subscriber).

    Safe to call from the run's thread while another thread takes snapshots.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._started = clock()
        self._lock = threading.Lock()
        self._artifacts: dict[str, int] = {}
        self._agents: dict[str, _Agent] = {}
        self._failures: deque[Failure] = deque(maxlen=_FAILURES_KEPT)
        self._failure_count = 0
        self._events = 0

    def __call__(self, event: FlockEvent) -> None:
        """Count `event` (streamed tokens are not counted)."""
        with self._lock:
            if isinstance(event, ArtifactPublished):
                kind = event.artifact.type
                self._artifacts[kind] = self._artifacts.get(kind, 0) + 1
            elif isinstance(event, ActivationStarted):
                agent = self._agent(event.agent)
                agent.cancelled.discard(event.work_key)  # resumed after a pause, or run again
                agent.running[event.work_key] = event.correlation_id
            elif isinstance(event, ActivationFinished):
                agent = self._agent(event.agent)
                agent.ended(event.work_key)
                agent.done += 1
            elif isinstance(event, WorkflowCancelled):
                for agent in self._agents.values():
                    agent.cancel(event.correlation_id)
            elif isinstance(event, ActivationFailed):
                agent = self._agent(event.agent)
                agent.ended(event.work_key)
                agent.failed += 1
                self._failures.append(Failure(event.agent, event.error_type, event.message))
                self._failure_count += 1
            else:
                return
            self._events += 1

    def _agent(self, name: str) -> _Agent:
        agent = self._agents.get(name)
        if agent is None:
            agent = self._agents[name] = _Agent()
        return agent

    def snapshot(self) -> Snapshot:
        """A copy of the counts now."""
        with self._lock:
            return Snapshot(
                elapsed=self._clock() - self._started,
                artifacts=dict(self._artifacts),
                agents={
                    n: AgentCounts(len(a.running), a.done, a.failed, len(a.cancelled)) for n, a in self._agents.items()
                },
                failures=tuple(self._failures),
                failure_count=self._failure_count,
                events=self._events,
            )


# -- rendering ---------------------------------------------------------------------------------------


def format_elapsed(seconds: float) -> str:
    """A duration for people.

    >>> format_elapsed(4.25), format_elapsed(125), format_elapsed(7384)
    ('4.2 s', '2 min 05 s', '2 h 03 min')
    """
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _short(message: str) -> str:
    """The first line of `message`, at most `_MESSAGE_CHARS` characters."""
    line = message.strip().split("\n", 1)[0]
    return line if len(line) <= _MESSAGE_CHARS else line[: _MESSAGE_CHARS - 1] + "…"


def _agent_counts(counts: AgentCounts) -> str:
    parts = [
        (counts.running, "running"),
        (counts.done, "done"),
        (counts.failed, "failed"),
        (counts.cancelled, "cancelled"),
    ]
    return ", ".join(f"{n} {word}" for n, word in parts if n)


def summary_line(snapshot: Snapshot, label: str = "flock", *, final: bool = False) -> str:
    """One line: elapsed time, artifacts by type, activations in total and per agent.

    >>> snap = Snapshot(1.5, {"Idea": 3}, {"a": AgentCounts(done=1), "b": AgentCounts(1, 0, 2)}, (), 2, 7)
    >>> print(summary_line(snap, final=True).replace(" · ", "\\n"))
    flock: finished after 1.5 s
    3 artifacts (Idea 3)
    4 activations: 1 running, 1 done, 2 failed (a: 1 done; b: 1 running, 2 failed)
    """
    artifacts = _plural(sum(snapshot.artifacts.values()), "artifact")
    if snapshot.artifacts:
        artifacts += " (" + ", ".join(f"{kind} {n}" for kind, n in snapshot.artifacts.items()) + ")"
    totals = snapshot.totals
    activations = _plural(totals.running + totals.done + totals.failed + totals.cancelled, "activation")
    if snapshot.agents:
        per_agent = "; ".join(f"{name}: {_agent_counts(c)}" for name, c in snapshot.agents.items())
        stopped = f", {totals.cancelled} cancelled" if totals.cancelled else ""
        activations += f": {totals.running} running, {totals.done} done, {totals.failed} failed{stopped} ({per_agent})"
    elapsed = f"finished after {format_elapsed(snapshot.elapsed)}" if final else format_elapsed(snapshot.elapsed)
    return f"{label}: {elapsed} · {artifacts} · {activations}"


def failure_line(failure: Failure, label: str = "flock") -> str:
    """One line for a failed activation: `label: agent failed: ErrorType: message`."""
    return f"{label}: {failure.agent} failed: {failure.error_type}: {_short(failure.message)}"


def render(
    snapshot: Snapshot, label: str = "flock", transcripts: Sequence[Transcript] = (), width: int = 80
) -> RenderableType:
    """The live display: a header, a table of activations per agent, artifacts by type, latest failures,
    and a line per running activation with the end of what it streamed (fitting in `width` columns)."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    totals = snapshot.totals
    header = Text.assemble(
        (label, "bold"),
        f" · {format_elapsed(snapshot.elapsed)} · {_plural(sum(snapshot.artifacts.values()), 'artifact')} · "
        f"{totals.running} running · {totals.done} done · ",
        (f"{totals.failed} failed", "bold red" if totals.failed else ""),
    )
    agents = Table(box=None, padding=(0, 1), pad_edge=False, header_style="bold")
    agents.add_column("agent", no_wrap=True)
    for column in ("running", "done", "failed"):
        agents.add_column(column, justify="right")
    for name, counts in snapshot.agents.items():
        failed = Text(str(counts.failed), style="red" if counts.failed else "")
        agents.add_row(name, str(counts.running), str(counts.done), failed)
    parts: list[RenderableType] = [header, agents]
    if snapshot.artifacts:
        kinds = " · ".join(f"{kind} {n}" for kind, n in snapshot.artifacts.items())
        parts.append(Text.assemble(("artifacts ", "bold"), kinds))
    if snapshot.failures:
        shown = snapshot.failures[-_FAILURES_SHOWN:]
        more = snapshot.failure_count - len(shown)
        parts.append(Text("latest failures" + (f" ({more} earlier not shown)" if more else ""), style="bold"))
        width = max(len(f.agent) for f in shown)
        for f in shown:
            message = f"{f.error_type}: {_short(f.message)}"
            parts.append(Text.assemble(f.agent.ljust(width), "  ", (message, "red"), no_wrap=True, overflow="ellipsis"))
    parts.extend(_transcript_line(t, width) for t in transcripts)
    return Group(*parts)


def _transcript_line(transcript: Transcript, width: int) -> Text:
    from rich.text import Text

    label = transcript.label + (f" (repair {transcript.attempt})" if transcript.attempt else "")
    room = max(width - len(label) - 3, 10)
    text = " ".join(transcript.text.split())
    tail = text if len(text) <= room else "…" + text[-room + 1 :]
    return Text.assemble((label, "bold cyan"), "  ", tail, no_wrap=True, overflow="crop")


# -- the view ----------------------------------------------------------------------------------------


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty() and os.environ.get("TERM") != "dumb"
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


class ProgressView:
    """Shows the progress of the Flocks it `watch`es while its `with` block runs (see the module docstring).

    Args:
        mode: `auto` (live when stderr is a terminal, plain otherwise), `live`, `plain` or `off`.
        label: starts every line (`flock run`, `flock worker`).
        console: where the live display goes (default: a rich console on stderr).
        stream: where plain lines go (default: `sys.stderr` at the time of writing).
        interval: seconds between plain summary lines (printed only when something changed).
        refresh_per_second: how often the live display redraws.
        clock: the time source for the elapsed time.
        tokens: also show the text the running activations stream (their engines stream only then).
    """

    def __init__(
        self,
        mode: ProgressMode = "auto",
        *,
        label: str = "flock",
        console: Console | None = None,
        stream: TextIO | None = None,
        interval: float = 5.0,
        refresh_per_second: float = 4.0,
        clock: Callable[[], float] = time.monotonic,
        tokens: bool = False,
    ) -> None:
        if mode not in PROGRESS_MODES:
            raise ValueError(f"progress mode must be one of {', '.join(PROGRESS_MODES)}, got {mode!r}")
        if mode == "auto":
            mode = "live" if _is_terminal(stream or sys.stderr) else "plain"
        self.mode: ProgressMode = mode
        self.label = label
        self.counts = RunCounts(clock)
        self._console = console
        self._stream = stream
        self._interval = interval
        self._refresh_per_second = refresh_per_second
        self._unsubscribe: list[Callable[[], None]] = []
        self._watched = 0
        self._entered = False
        self._live: Live | None = None
        self._ticker: threading.Thread | None = None
        self._stop = threading.Event()
        self._printed_events = 0
        self._printed_failures = 0
        live_tokens = mode == "live" and _is_terminal(sys.stdout)
        self.transcripts = Transcripts(lines=not live_tokens) if tokens else None
        self._lines: Printer[str] | None = None
        self._panels: Printer[Transcript] | None = None
        if self.transcripts is not None and live_tokens:
            self._panels = Printer(self.transcripts.take_finished, self._print_panels)
        elif self.transcripts is not None:
            self._lines = line_writer(self.transcripts)

    def watch(self, flock: Flock) -> None:
        """Count `flock`'s events from now on (the display starts once the view is entered)."""
        if self.transcripts is not None:
            self._unsubscribe.append(flock.events.subscribe(self.transcripts, tokens=True))
        elif self.mode == "off":
            return
        if self.mode != "off":
            self._unsubscribe.append(flock.events.subscribe(self.counts))
        self._watched += 1
        if self._entered:
            self._start()

    def __enter__(self) -> Self:
        self._entered = True
        if self._watched:
            self._start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Unsubscribe, stop the display and print the final summary line (if a Flock was watched)."""
        while self._unsubscribe:
            self._unsubscribe.pop()()
        self._entered = False
        if self._ticker is not None:
            self._stop.set()
            self._ticker.join()
            self._ticker = None
        if self._panels is not None:
            self._panels.close()
        if self._live is not None:
            self._live.stop()
            line = summary_line(self.counts.snapshot(), self.label, final=True)
            self._live.console.print(line, markup=False, highlight=False, soft_wrap=True)
            self._live = None
        elif self.mode == "plain" and self._watched:
            self._print_plain(final=True)
        if self._lines is not None:
            self._lines.close()
        self._watched = 0

    def _start(self) -> None:
        if self._lines is not None:
            self._lines.start()
        if self.mode == "live" and self._live is None:
            from rich.console import Console
            from rich.live import Live

            self._console = self._console or Console(stderr=True)
            self._live = Live(
                console=self._console,
                get_renderable=self._renderable,
                refresh_per_second=self._refresh_per_second,
                redirect_stdout=_is_terminal(sys.stdout),  # keep a redirected stdout where the script sends it
                redirect_stderr=True,
            )
            self._live.start()
            if self._panels is not None:
                self._panels.start()
        elif self.mode == "plain" and self._ticker is None:
            self._stop.clear()
            self._ticker = threading.Thread(target=self._tick, name="flock-progress", daemon=True)
            self._ticker.start()

    def _print_panels(self, finished: list[Transcript]) -> None:
        """Print the whole text of each finished activation once, above the live display."""
        from rich.panel import Panel

        if self._live is not None:
            for transcript in finished:
                title = transcript.label + (f" (repair {transcript.attempt})" if transcript.attempt else "")
                self._live.console.print(Panel(transcript.text.strip(), title=title, title_align="left"), markup=False)

    def _renderable(self) -> RenderableType:
        transcripts = self.transcripts.running() if self._panels is not None and self.transcripts is not None else ()
        width = self._console.width if self._console is not None else 80
        return render(self.counts.snapshot(), self.label, transcripts, width)

    def _tick(self) -> None:
        while not self._stop.wait(self._interval):
            self._print_plain(final=False)

    def _print_plain(self, *, final: bool) -> None:
        snapshot = self.counts.snapshot()
        if not final and snapshot.events == self._printed_events:
            return
        new = snapshot.failure_count - self._printed_failures
        shown = snapshot.failures[max(0, len(snapshot.failures) - new) :] if new else ()
        lines = [failure_line(f, self.label) for f in shown]
        if new > len(shown):
            lines.insert(0, f"{self.label}: {_plural(new - len(shown), 'earlier failure')} not shown")
        lines.append(summary_line(snapshot, self.label, final=final))
        print("\n".join(lines), file=self._stream or sys.stderr, flush=True)
        self._printed_events, self._printed_failures = snapshot.events, snapshot.failure_count


def watch_flock(
    flock: Flock, mode: ProgressMode = "auto", *, label: str = "flock", tokens: bool = False
) -> ProgressView:
    """A progress view of `flock`, for `with watch_flock(flock, args.progress, label="flock worker"): ...`.

    With `tokens`, it also shows what the activations stream (`flock worker --stream`).
    """
    view = ProgressView(mode, label=label, tokens=tokens)
    view.watch(flock)
    return view


def add_progress_argument(parser: argparse.ArgumentParser, default: ProgressMode = "auto") -> None:
    """Add `--progress {auto,live,plain,off}` to a command (`args.progress` is the mode)."""
    parser.add_argument(
        "--progress",
        choices=PROGRESS_MODES,
        default=default,
        help="progress on stderr: live (a table redrawn in place), plain (a line every 5 seconds when something "
        f"changed, for logs), off, or auto: live when stderr is a terminal, else plain (default: {default})",
    )
