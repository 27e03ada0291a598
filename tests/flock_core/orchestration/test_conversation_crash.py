"""Acceptance: a conversation killed with SIGKILL mid-turn continues from the SQLite store with its history."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

SCRIPT = Path(__file__).with_name("conversation_child.py")
CHILD_SECONDS = 60.0


def run_child(path: Path, lifetime: str, *, kill_at: str | None = None) -> list[str]:
    """Run one lifetime of the chat; SIGKILL it when it prints `kill_at`. Returns the lines it printed."""
    child = subprocess.Popen(
        [sys.executable, str(SCRIPT), str(path), lifetime], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    watchdog = threading.Timer(CHILD_SECONDS, child.kill)
    watchdog.start()
    lines: list[str] = []
    assert child.stdout is not None
    assert child.stderr is not None
    try:
        for line in iter(child.stdout.readline, ""):
            lines.append(line.strip())
            if line.strip() == kill_at:
                os.kill(child.pid, signal.SIGKILL)
                break
        child.wait()
        errors = child.stderr.read()
    finally:
        watchdog.cancel()
        child.stdout.close()
        child.stderr.close()
    expected = -signal.SIGKILL if kill_at else 0
    assert child.returncode == expected, f"child ended with {child.returncode}: {errors}"
    return lines


def test_a_conversation_killed_mid_turn_continues_with_its_history(tmp_path: Path) -> None:
    board = tmp_path / "chat.db"
    first = run_child(board, "first", kill_at="blocking")
    assert first == ["seen first []", "reply re: first", 'seen second ["first", "re: first"]', "blocking"]

    second = run_child(board, "second")
    assert second[0] == "resumed 1"
    seen = {line.split()[1]: json.loads(line.split(" ", 2)[2]) for line in second if line.startswith("seen")}
    assert seen == {
        "second": ["first", "re: first"],
        "third": ["first", "re: first", "second", "re: second"],
    }
    assert second[-1] == "reply re: third"
