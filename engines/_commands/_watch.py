"""Progress of `flock optimize` and `flock evaluate` on stderr: a rich live bar on a terminal, plain lines otherwise.

A command goes through phases (scoring before, optimizing, scoring after); each phase has a total, a
count done and a detail text (the trial running, the best score, calls, tokens and cost so far).

- `live`: a `rich.progress.Progress` on stderr, one bar per phase, plus a line per completed trial;
- `plain`: for logs and pipes: a line when a phase starts and ends, a line per completed trial, and at
  most one progress line every `interval` seconds in between;
- `off`: nothing.

`rich` is imported only when a live display starts.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Literal, Self, TextIO, get_args

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

__all__ = ["WATCH_MODES", "Watch", "WatchMode"]

WatchMode = Literal["auto", "live", "plain", "off"]
WATCH_MODES: tuple[WatchMode, ...] = get_args(WatchMode)


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty() and os.environ.get("TERM") != "dumb"
    except (AttributeError, ValueError):
        return False


class Watch:
    """Shows the phases of a command (see the module docstring); use it as a context manager."""

    def __init__(
        self,
        mode: WatchMode = "auto",
        *,
        label: str,
        stream: TextIO | None = None,
        interval: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if mode == "auto":
            mode = "live" if _is_terminal(stream or sys.stderr) else "plain"
        self.mode: WatchMode = mode
        self.label = label
        self._stream = stream
        self._interval = interval
        self._clock = clock
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self._phase = ""
        self._total = 0
        self._done = -1
        self._printed_at = float("-inf")

    def __enter__(self) -> Self:
        if self.mode == "live":
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("{task.fields[detail]}"),
                console=Console(file=self._stream or sys.stderr),
            )
            self._progress.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def phase(self, name: str, total: int) -> None:
        """Start the phase `name` of `total` steps."""
        self._phase, self._total, self._done = name, total, -1
        if self._progress is not None:
            self._task = self._progress.add_task(name, total=total, detail="")
        elif self.mode == "plain":
            self._write(f"{self.label}: {name}: started ({total} steps)")
            self._printed_at = self._clock()

    def update(self, done: int, detail: str = "", *, total: int | None = None) -> None:
        """`done` steps of the phase are done; `detail` says where it stands."""
        if total is not None:
            self._total = total
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, completed=done, total=self._total, detail=detail)
        elif self.mode == "plain" and done != self._done and self._clock() - self._printed_at >= self._interval:
            self._write(f"{self.label}: {self._phase}: {done}/{self._total} {detail}".rstrip())
            self._printed_at = self._clock()
        self._done = done

    def note(self, text: str) -> None:
        """One line for something that happened (a trial completed)."""
        if self._progress is not None:
            self._progress.console.print(text, highlight=False, markup=False)
        elif self.mode == "plain":
            self._write(f"{self.label}: {text}")

    def finish(self, detail: str = "") -> None:
        """End the current phase."""
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, completed=self._total, detail=detail)
        elif self.mode == "plain":
            self._write(f"{self.label}: {self._phase}: done {detail}".rstrip())

    def _write(self, line: str) -> None:
        stream = self._stream or sys.stderr
        stream.write(line + "\n")
        stream.flush()
