"""The fake model, in a process of its own so that neither framework shares its interpreter with it.

`python -m benchmarks._lm_server LATENCY` starts `flock_core.testing.FakeOpenAIServer` with a responder
that answers every request in ChatAdapter format (`_replies.chat_reply`), prints `{"base_url": ...}` on
one line, then serves until its standard input closes. Each line `calls` on standard input is answered
with one JSON line: the calls received since the previous `calls` (time, prompt size, model).
`LMServer` starts and talks to that process.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self, cast

from flock_core.testing import ChatRequest, FakeOpenAIServer

from ._replies import chat_reply

__all__ = ["CallRecord", "LMServer", "serve"]


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One chat request as the fake model saw it: when it was answered and how large its prompt was."""

    at: float
    prompt_chars: int
    messages: int
    model: str

    @property
    def tokens(self) -> float:
        """Estimated prompt tokens: characters / 4, the fake server's own usage estimate."""
        return self.prompt_chars / 4


class _Recorder:
    """The responder: answers in ChatAdapter format and records every call."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: list[CallRecord] = []

    def __call__(self, request: ChatRequest) -> str:
        system = request.messages[0].get("content") if request.messages else None
        reply = chat_reply(system if isinstance(system, str) else "", seed=request.call_index)
        record = CallRecord(time.time(), request.prompt_chars, len(request.messages), request.model)
        with self._lock:
            self._calls.append(record)
        return reply

    def take(self) -> list[CallRecord]:
        with self._lock:
            calls, self._calls = self._calls, []
        return calls


def serve(latency: float, commands: IO[str], answers: IO[str]) -> None:
    """Serve until `commands` closes, answering each `calls` line on `answers` (see the module docstring)."""
    recorder = _Recorder()
    with FakeOpenAIServer(recorder, latency=latency) as server:
        print(json.dumps({"base_url": server.base_url}), file=answers, flush=True)
        for line in commands:
            if line.strip() == "calls":
                print(json.dumps([asdict(call) for call in recorder.take()]), file=answers, flush=True)


class LMServer:
    """The fake model server process (see the module docstring), as a context manager.

    Args:
        latency: seconds every request waits before it is answered (concurrent requests wait together).
        python: the interpreter to run it with (default: this one).
    """

    def __init__(self, latency: float, *, python: str = sys.executable) -> None:
        self.latency = latency
        self._python = python
        self._process: subprocess.Popen[str] | None = None
        self.base_url = ""

    def __enter__(self) -> Self:
        root = str(Path(__file__).resolve().parent.parent)
        self._process = subprocess.Popen(
            [self._python, "-m", "benchmarks._lm_server", str(self.latency)],
            cwd=root,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.base_url = str(json.loads(self._readline())["base_url"])
        return self

    def calls(self) -> list[CallRecord]:
        """The calls the server answered since the previous `calls()`."""
        process = self._running()
        assert process.stdin is not None
        process.stdin.write("calls\n")
        process.stdin.flush()
        return [CallRecord(**record) for record in cast(list[dict[str, Any]], json.loads(self._readline()))]

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        assert process.stdin is not None
        assert process.stdout is not None
        process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stdout.close()

    def _running(self) -> subprocess.Popen[str]:
        if self._process is None:
            raise RuntimeError("LMServer is not running; use it as a context manager")
        return self._process

    def _readline(self) -> str:
        process = self._running()
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(f"the fake model server exited (status {process.poll()})")
        return line


if __name__ == "__main__":
    serve(float(sys.argv[1]), sys.stdin, sys.stdout)
