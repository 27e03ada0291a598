"""The budget is enforced at the model call: the model server never serves more calls than it allows,
on a branching workflow and across a resume after SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from engines import simulated_responder
from flock_core.testing import ChatRequest, FakeOpenAIServer

from .branching import optimize

SCRIPT = Path(__file__).with_name("branching.py")


@pytest.mark.anyio
@pytest.mark.parametrize("max_calls", [1, 7, 21, 50])
async def test_a_branching_workflow_never_makes_more_calls_than_the_budget(max_calls: int) -> None:
    with FakeOpenAIServer(simulated_responder) as server:
        reported, stop = await optimize(server.base_url, None, max_calls, concurrency=8)
        served = len(server.requests)
    assert served <= max_calls
    assert reported == served  # every call served is counted, and none that was not
    assert stop == "budget"


def test_a_resume_after_sigkill_never_makes_more_calls_than_the_budget(tmp_path: Path) -> None:
    budget, kill_at = 40, 17
    reached, release = threading.Event(), threading.Event()

    def stalls_at_kill_point(request: ChatRequest) -> str:
        if request.call_index == kill_at - 1:
            reached.set()
            release.wait(timeout=30)  # the child is killed while this call is in flight
        return simulated_responder(request)

    with FakeOpenAIServer(stalls_at_kill_point) as server:
        child = subprocess.Popen(
            [sys.executable, str(SCRIPT), server.base_url, str(tmp_path), str(budget)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert reached.wait(timeout=60), child.stderr.read() if child.stderr else ""
            os.kill(child.pid, signal.SIGKILL)
            child.wait(timeout=30)
        finally:
            release.set()
            if child.poll() is None:
                child.kill()
            child.communicate()
        killed_after = len(server.requests)
        assert killed_after >= kill_at
        resumed = subprocess.run(
            [sys.executable, str(SCRIPT), server.base_url, str(tmp_path), str(budget)],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        served = len(server.requests)
    reported, stop = resumed.stdout.split()
    assert served <= budget
    assert served > killed_after  # the resumed run spent what was left
    assert int(reported) >= served  # the calls of the killed process count (a call cut short counts in full)
    assert stop == "budget"
