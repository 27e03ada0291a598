"""`flock cancel | pause | resume | approvals | approve | reject` on a Flock's SQLite store."""

from __future__ import annotations

import contextlib
import importlib
import io
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from flock_core.cli._main import main

MODULE = """
from pydantic import BaseModel

from flock_core import AgentIdentity, Flock, SQLiteBlackboardStore, TenantVisibility
from flock_core.testing import FunctionEngine


class Brief(BaseModel):
    topic: str


class Draft(BaseModel):
    text: str


class Post(BaseModel):
    text: str


def write(request):
    payload = request.payloads[0]
    return [Draft(text=payload.topic)] if isinstance(payload, Brief) else [Post(text=payload.text)]


def build():
    flock = Flock(store=SQLiteBlackboardStore("board.db"), engine=FunctionEngine(write))
    for model in (Brief, Draft, Post):
        flock.register_type(model)
    flock.agent("writer").tenant("acme").consumes(Brief).publishes(Draft).requires_approval(
        ["editor", AgentIdentity("alice", tenant="acme")]
    )
    flock.agent("publisher").tenant("acme").consumes(Draft).publishes(Post)
    return flock


flock = build()
"""


@pytest.fixture
def module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    name = f"cli_control_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(MODULE, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    sys.modules.pop(name, None)


def cli(module: str, *argv: str) -> tuple[int, str, str]:
    """Run `flock ARGV` with a fresh import of `module` (each command closes its Flock's store)."""
    sys.modules.pop(module, None)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main([argv[0], f"{module}:flock", *argv[1:]])
    return status, out.getvalue(), err.getvalue()


def fresh(module: str) -> Any:
    sys.modules.pop(module, None)
    return importlib.import_module(module)


def hold(module: str, **publish: Any) -> None:
    loaded = fresh(module)

    async def run() -> None:
        await loaded.flock.publish(loaded.Brief(topic="tides"), correlation_id="c1", **publish)
        await loaded.flock.run_until_idle()
        await loaded.flock.shutdown()

    anyio.run(run)


def test_an_approver_lists_and_approves_from_the_shell(module: str) -> None:
    hold(module)
    assert cli(module, "approvals", "--as", "mallory") == (0, "", "")
    status, listing, _ = cli(module, "approvals", "--as", "editor")
    [line] = listing.splitlines()
    approval_id = line.split()[0]
    assert line.endswith("writer  c1  holds 1 Draft")
    status, _, err = cli(module, "approve", approval_id, "--as", "mallory")
    assert (status, err.strip()) == (
        2,
        f"flock approve: no pending approval request {approval_id!r} that 'mallory' may decide",
    )
    assert cli(module, "approve", approval_id, "--as", "editor", "--reason", "ok") == (
        0,
        f"approved {approval_id} as editor\n",
        "",
    )
    loaded = fresh(module)

    async def run() -> list[Any]:
        await loaded.flock.run_until_idle()
        [request] = await loaded.flock.store.approvals("approved")
        assert (request.decided_by, request.reason) == ("editor", "ok")
        posts = await loaded.flock.get_by_type(loaded.Post)
        await loaded.flock.shutdown()
        return posts

    assert [p.text for p in anyio.run(run)] == ["tides"]


def test_only_an_approver_who_may_see_the_outputs_lists_or_rejects_them(module: str) -> None:
    from flock_core import TenantVisibility

    hold(module, visibility=TenantVisibility(tenant_id="acme"))
    assert cli(module, "approvals", "--as", "editor")[1] == ""  # editor has no tenant: acme's draft is hidden
    _, listing, _ = cli(module, "approvals", "--as", "alice", "--tenant", "acme", "--json")
    approval_id = listing.split('"id": "')[1].split('"')[0]
    assert cli(module, "reject", approval_id, "--as", "editor")[0] == 2
    assert cli(module, "reject", approval_id, "--as", "alice", "--tenant", "acme", "--reason", "no") == (
        0,
        f"rejected {approval_id} as alice@acme\n",
        "",
    )


def test_cancel_pause_and_resume_from_the_shell(module: str) -> None:
    hold(module)
    loaded = fresh(module)

    async def publish() -> None:
        await loaded.flock.publish(loaded.Brief(topic="more"), correlation_id="c2")
        await loaded.flock.shutdown()

    anyio.run(publish)
    assert cli(module, "pause", "c2") == (0, "paused workflow c2\n", "")
    assert cli(module, "pause") == (0, "paused every workflow\n", "")
    assert cli(module, "resume") == (0, "resumed every workflow\n", "")
    loaded = fresh(module)
    assert anyio.run(loaded.flock.store.paused_workflows) == frozenset({"c2"})
    anyio.run(loaded.flock.store.close)
    assert cli(module, "resume", "c2") == (0, "resumed workflow c2\n", "")
    assert cli(module, "cancel", "c2", "--reason", "not needed") == (
        0,
        "cancelled workflow c2 (1 queued or running work item(s) stopped)\n",
        "",
    )
    loaded = fresh(module)

    async def state() -> tuple[str, str | None]:
        status = await loaded.flock.get_correlation_status("c2")
        await loaded.flock.shutdown()
        return status.state, status.cancel_reason

    assert anyio.run(state) == ("cancelled", "not needed")
