"""The streamed text of running activations, for `flock run --stream`: a live line each, or plain lines.

`Transcripts` is an `EventBus` subscriber for tokens (`subscribe(..., tokens=True)`). Its handler only
appends text under a lock (no I/O): it keeps the tail of each running activation's text for the live
display and, for plain output, cuts the text into complete lines. A `LineWriter` thread prints those lines
to stdout every tenth of a second, each prefixed with the activation's label (`writer#2 | `), so a pipe or a
log gets readable, line-oriented output. A slow reader never slows the run: at most `max_lines` lines
wait; beyond that the oldest are dropped and a `… N lines dropped` line says so. For the live display
(`lines=False`), the transcripts of finished activations wait in `take_finished` instead (the latest
`max_lines`), so that the view can print each once above the display.
"""

from __future__ import annotations

import sys
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TextIO, TypeVar

from ..orchestration._events import ActivationFailed, ActivationFinished, ActivationStarted, FlockEvent, TokenStreamed

__all__ = ["Printer", "Transcript", "Transcripts", "line_writer"]

T = TypeVar("T")

_KEEP_CHARS = 4000
_MAX_LINES = 10_000


@dataclass(frozen=True, slots=True)
class Transcript:
    """What one running activation streamed so far: its label (`agent#n`), repair attempt and text tail."""

    label: str
    attempt: int
    text: str


@dataclass(slots=True)
class _Running:
    label: str
    attempt: int = 0
    text: str = ""
    line: str = ""


class Transcripts:
    """Collects the streamed text of running activations (see the module docstring).

    >>> transcripts = Transcripts(lines=True)
    >>> transcripts(ActivationStarted("writer", "k1", "c", ()))
    >>> for chunk in ["Once upon", " a time\\nthere", " was"]:
    ...     transcripts(TokenStreamed("writer", "k1", chunk))
    >>> transcripts.running()
    [Transcript(label='writer#1', attempt=0, text='Once upon a time\\nthere was')]
    >>> transcripts(ActivationFinished("writer", "k1", "c", ()))
    >>> transcripts.take_lines(), transcripts.running()
    (['writer#1 | Once upon a time', 'writer#1 | there was'], [])
    """

    def __init__(self, *, lines: bool, keep_chars: int = _KEEP_CHARS, max_lines: int = _MAX_LINES) -> None:
        self._lines_wanted = lines
        self._keep = keep_chars
        self._lock = threading.Lock()
        self._running: dict[str, _Running] = {}
        self._numbers: dict[str, int] = {}
        self._lines: deque[str] = deque(maxlen=max_lines)
        self._finished: deque[Transcript] = deque(maxlen=max_lines)
        self._dropped = 0

    def __call__(self, event: FlockEvent) -> None:
        """Record `event` (tokens, and the start and end of activations)."""
        with self._lock:
            if isinstance(event, TokenStreamed):
                self._append(self._activation(event.agent, event.work_key), event)
            elif isinstance(event, ActivationStarted):
                self._activation(event.agent, event.work_key)
            elif isinstance(event, ActivationFinished | ActivationFailed):
                running = self._running.pop(event.work_key, None)
                if running is not None and running.line:
                    self._line(f"{running.label} | {running.line}")
                if running is not None and running.text and not self._lines_wanted:
                    self._finished.append(Transcript(running.label, running.attempt, running.text))

    def _activation(self, agent: str, work_key: str) -> _Running:
        running = self._running.get(work_key)
        if running is None:
            number = self._numbers[agent] = self._numbers.get(agent, 0) + 1
            running = self._running[work_key] = _Running(f"{agent}#{number}")
        return running

    def _append(self, running: _Running, event: TokenStreamed) -> None:
        if event.attempt != running.attempt:  # a repair attempt starts its text afresh
            if running.line:
                self._line(f"{running.label} | {running.line}")
            running.attempt, running.text, running.line = event.attempt, "", ""
            self._line(f"{running.label} | (repair attempt {event.attempt})")
        running.text = (running.text + event.text)[-self._keep :]
        if not self._lines_wanted:
            return
        *complete, running.line = (running.line + event.text).split("\n")
        for line in complete:
            self._line(f"{running.label} | {line}")
        if len(running.line) > self._keep:  # a model that never ends a line still shows up
            self._line(f"{running.label} | {running.line}")
            running.line = ""

    def _line(self, line: str) -> None:
        if not self._lines_wanted:
            return
        if len(self._lines) == self._lines.maxlen:
            self._dropped += 1
        self._lines.append(line)

    def running(self) -> list[Transcript]:
        """The running activations that streamed something, in the order they started."""
        with self._lock:
            return [Transcript(r.label, r.attempt, r.text) for r in self._running.values() if r.text]

    def take_finished(self, *, flush: bool = False) -> list[Transcript]:
        """The transcripts of activations that finished since the last call (`flush` is ignored)."""
        del flush
        with self._lock:
            finished = list(self._finished)
            self._finished.clear()
            return finished

    def take_lines(self, *, flush: bool = False) -> list[str]:
        """The complete lines not taken yet (with `flush`, the running activations' partial lines too)."""
        with self._lock:
            if flush:
                for running in self._running.values():
                    if running.line:
                        self._line(f"{running.label} | {running.line}")
                        running.line = ""
            lines = list(self._lines)
            self._lines.clear()
            if self._dropped:
                lines.insert(0, f"… {self._dropped} lines dropped (output too slow)")
                self._dropped = 0
            return lines


class Printer(Generic[T]):
    """Every `interval` seconds, in a thread, hands what `take()` returns to `write` (if anything).

    `close()` stops the thread and writes what is left, `take(flush=True)`.
    """

    def __init__(self, take: Callable[..., list[T]], write: Callable[[list[T]], None], interval: float = 0.1) -> None:
        self._take = take
        self._write_out = write
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start printing."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="flock-tokens", daemon=True)
            self._thread.start()

    def close(self) -> None:
        """Stop the thread and write everything left."""
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
        self._write(self._take(flush=True))

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._write(self._take())

    def _write(self, items: list[T]) -> None:
        if items:
            self._write_out(items)


def line_writer(transcripts: Transcripts, stream: TextIO | None = None) -> Printer[str]:
    """Prints the lines of `transcripts` to `stream` (default: `sys.stdout` at the time of writing)."""

    def write(lines: list[str]) -> None:
        out = stream or sys.stdout
        out.write("\n".join(lines) + "\n")
        out.flush()

    return Printer(transcripts.take_lines, write)
