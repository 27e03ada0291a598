"""What only the SQLite store does: persistence across processes, schema migrations, pragmas, concurrency.

The behaviour it shares with every backend is in the contract suite, `test_store.py`.
"""

from __future__ import annotations

import itertools
import os
import socket
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import pytest
from pydantic import BaseModel

from flock_core import Artifact, ArtifactQuery, ExpiredJoin, Flock
from flock_core.blackboard._work import Commit, TimerState, WorkRecord
from flock_core.blackboard.sqlite._schema import MIGRATIONS, migrate
from flock_core.blackboard.sqlite._store import SQLiteBlackboardStore, _while_busy
from flock_core.exceptions import BoardInUseError, ConfigurationError, StoreError
from flock_core.testing import FunctionEngine

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 1, 1, tzinfo=UTC)
FUTURE = datetime(2100, 1, 1, tzinfo=UTC)


class Question(BaseModel):
    text: str


class Answer(BaseModel):
    text: str


def note(text: str, **fields: Any) -> Artifact:
    return Artifact(type="Note", payload={"text": text}, correlation_id="c1", created_at=T0, **fields)


async def pragma(store: SQLiteBlackboardStore, name: str) -> Any:
    return await store._run(lambda conn: conn.execute(f"PRAGMA {name}").fetchone()[0])


async def test_everything_survives_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "board.db"
    source = note("q")
    item = WorkRecord(key="writer:1", agent="writer", subscription=0, input_ids=(source.id,), correlation_id="c1")
    expired = ExpiredJoin("shipper", 0, "1", (str(source.id),), ("Note",), "count window", T0)
    first = SQLiteBlackboardStore(path)
    await first.append(source)
    await first.commit(Commit(enqueue=(item,), timers=(TimerState("beat", 3, T0),), expired_joins=(expired,)))
    await first.lease(item.key, "w1", FUTURE)
    await first.save_fingerprints({"writer": "abc"})
    await first.close()

    second = SQLiteBlackboardStore(path)
    state = (
        await second.get(source.id),
        await second.work(),
        await second.consumed_pairs(),
        await second.timer_states(),
        await second.expired_joins(),
        await second.fingerprints(),
    )
    await second.close()
    leased = WorkRecord(
        key="writer:1",
        agent="writer",
        subscription=0,
        input_ids=(source.id,),
        correlation_id="c1",
        status="leased",
        attempts=1,
        lease_owner="w1",
        lease_until=FUTURE,
    )
    assert state == (
        source,
        [leased],
        {("writer", source.id)},
        [TimerState("beat", 3, T0)],
        [expired],
        {"writer": "abc"},
    )


async def test_schema_is_created_on_first_use_with_wal(tmp_path: Path) -> None:
    store = SQLiteBlackboardStore(tmp_path / "board.db")
    assert not (tmp_path / "board.db").exists()
    assert (await pragma(store, "user_version"), await pragma(store, "journal_mode")) == (len(MIGRATIONS), "wal")
    assert (await pragma(store, "synchronous"), await pragma(store, "busy_timeout")) == (1, 30_000)
    await store.close()


async def test_synchronous_full_and_busy_timeout_options(tmp_path: Path) -> None:
    store = SQLiteBlackboardStore(tmp_path / "board.db", synchronous="FULL", busy_timeout=2.5)
    assert (await pragma(store, "synchronous"), await pragma(store, "busy_timeout")) == (2, 2500)
    await store.close()
    with pytest.raises(ConfigurationError, match="synchronous"):
        SQLiteBlackboardStore(tmp_path / "board.db", synchronous="OFF")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="busy_timeout"):
        SQLiteBlackboardStore(tmp_path / "board.db", busy_timeout=-1)


def test_migrations_apply_in_order_from_the_stored_version(tmp_path: Path) -> None:
    steps = [["CREATE TABLE a (x)"], ["ALTER TABLE a ADD COLUMN y", "CREATE TABLE b (z)"]]
    with sqlite3.connect(tmp_path / "m.db", isolation_level=None) as conn:
        assert migrate(conn, steps[:1]) == 1
        conn.execute("INSERT INTO a (x) VALUES (1)")
        assert migrate(conn, steps) == 2
        assert migrate(conn, steps) == 2, "nothing left to apply"
        assert conn.execute("SELECT x, y FROM a").fetchall() == [(1, None)]
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
        with pytest.raises(StoreError, match="schema version 2, newer"):
            migrate(conn, steps[:1])
    conn.close()


def test_a_failed_migration_leaves_the_previous_version(tmp_path: Path) -> None:
    steps = [["CREATE TABLE a (x)"], ["CREATE TABLE b (z)", "CREATE TABLE a (x)"]]
    with sqlite3.connect(tmp_path / "m.db", isolation_level=None) as conn:
        migrate(conn, steps[:1])
        with pytest.raises(sqlite3.OperationalError, match="already exists"):
            migrate(conn, steps)
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
        assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'b'").fetchall() == []
    conn.close()


async def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "board.db") as conn:
        conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    conn.close()
    store = SQLiteBlackboardStore(tmp_path / "board.db")
    with pytest.raises(StoreError, match="newer than this flock_core"):
        await store.append(note("x"))
    await store.close()


async def test_sqlite_errors_become_store_errors(tmp_path: Path) -> None:
    store = SQLiteBlackboardStore(tmp_path / "missing" / "board.db")
    with pytest.raises(StoreError, match="unable to open database file") as raised:
        await store.query(ArtifactQuery())
    assert isinstance(raised.value.__cause__, sqlite3.Error)
    await store.close()


async def test_close_is_idempotent_and_the_store_reopens(tmp_path: Path) -> None:
    store = SQLiteBlackboardStore(tmp_path / "board.db")
    first = note("a")
    await store.append(first)
    await store.close()
    await store.close()
    assert await store.get(first.id) == first
    await store.close()
    assert repr(store) == f"SQLiteBlackboardStore({str(tmp_path / 'board.db')!r}, synchronous='NORMAL')"


async def test_a_flock_runs_on_the_file_and_a_new_flock_reads_it(tmp_path: Path) -> None:
    def make() -> Flock:
        engine = FunctionEngine(lambda r: [Answer(text=r.payloads[0].text.upper())])  # type: ignore[attr-defined]
        flock = Flock(engine=engine, store=SQLiteBlackboardStore(tmp_path / "board.db"))
        flock.register_type(Question)
        flock.register_type(Answer)
        flock.agent("answerer").consumes(Question).publishes(Answer)
        return flock

    async with make() as flock:
        result = await flock.arun(Question(text="why?"))
        assert result.get(Answer) == [Answer(text="WHY?")]
    async with make() as again:
        report = await again.start()
        await again.run_until_idle()
        assert (report.resumed_work, await again.get_by_type(Answer)) == (0, [Answer(text="WHY?")])
        assert [r.status for r in await again.store.work()] == ["done"]


# -- several processes on one file ---------------------------------------------------------------------

CHILD = """
import sys, time
from datetime import UTC, datetime
from pathlib import Path

import anyio

from flock_core import Artifact
from flock_core.blackboard.sqlite._store import SQLiteBlackboardStore


async def main(path: str, name: str, mode: str, count: int) -> None:
    store = SQLiteBlackboardStore(path)
    await store.fingerprints()  # opens the file
    print("ready", flush=True)
    while not Path(path + ".go").exists():
        await anyio.sleep(0.001)
    if mode == "append":
        for i in range(count):
            artifact = Artifact(type="Note", payload={"by": name, "i": i}, correlation_id=name)
            print(await store.append(artifact), artifact.id)
    else:
        keys = [f"k{i}" for i in range(count)]
        other = Path(f"{path}.{'b' if name == 'a' else 'a'}.first")
        for key in keys if name == "a" else reversed(keys):
            if await store.lease(key, name, datetime(2100, 1, 1, tzinfo=UTC)) is not None:
                print(key)
                if not Path(f"{path}.{name}.first").exists():  # wait until both lease: they race from here
                    Path(f"{path}.{name}.first").touch()
                    while not other.exists():
                        await anyio.sleep(0.001)
    await store.close()


anyio.run(main, sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))
"""


def run_children(path: Path, mode: str, count: int) -> list[list[str]]:
    """Start two child processes on `path`, let them go at once, and return their output lines."""
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, str(path), name, mode, str(count)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("a", "b")
    ]
    for child in children:
        assert child.stdout is not None
        if child.stdout.readline() != "ready\n":
            _, err = child.communicate(timeout=60)
            pytest.fail(f"a child did not open the store (exit status {child.returncode}): {err}")
    Path(f"{path}.go").touch()
    outputs: list[list[str]] = []
    for child in children:
        out, err = child.communicate(timeout=60)
        assert child.returncode == 0, err
        outputs.append(out.split("\n")[:-1])
    return outputs


@pytest.mark.slow
async def test_two_processes_append_concurrently_and_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "board.db"
    outputs = run_children(path, "append", 500)
    written = [line.split() for lines in outputs for line in lines]
    store = SQLiteBlackboardStore(path)
    page = await store.query(ArtifactQuery())
    await store.close()

    assert [len(lines) for lines in outputs] == [500, 500]
    assert len({seq for seq, _ in written}) == 1000, "sequence numbers are unique"
    assert sorted(str(a.id) for a in page.items) == sorted(artifact_id for _, artifact_id in written)
    by_seq = sorted(written, key=lambda pair: int(pair[0]))
    assert [str(a.id) for a in page.items] == [artifact_id for _, artifact_id in by_seq], "oldest first by sequence"
    for name in ("a", "b"):
        mine = [a.payload["i"] for a in page.items if a.correlation_id == name]
        assert mine == list(range(500)), "each writer's artifacts keep their order"
    writers = [a.correlation_id for a in page.items]
    assert sum(x != y for x, y in itertools.pairwise(writers)) >= 2, "the writers interleaved"


@pytest.mark.slow
async def test_two_processes_never_lease_the_same_item(tmp_path: Path) -> None:
    path = tmp_path / "board.db"
    store = SQLiteBlackboardStore(path)
    records = [WorkRecord(key=f"k{i}", agent="a", subscription=0, input_ids=(), correlation_id="c") for i in range(300)]
    await store.commit(Commit(enqueue=tuple(records)))
    await store.close()

    leased_a, leased_b = (set(lines) for lines in run_children(path, "lease", 300))

    assert (leased_a & leased_b, leased_a | leased_b) == (set(), {r.key for r in records})
    assert min(len(leased_a), len(leased_b)) > 0, "both processes leased"
    owners = {r.key: r.lease_owner for r in await store.work()}
    await store.close()
    assert owners == {key: "a" for key in leased_a} | {key: "b" for key in leased_b}


def process_state(pid: int) -> str:
    """The state letter of a process (`Z`: a zombie, dead and not reaped)."""
    return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]


HOLDER = """
import sys, anyio
from flock_core import Flock, SQLiteBlackboardStore

async def main(path: str) -> None:
    flock = Flock(store=SQLiteBlackboardStore(path))
    await flock.start()
    print("started", flush=True)
    sys.stdin.readline()  # hold the board until killed

anyio.run(main, sys.argv[1])
"""


async def second_flock(path: Path) -> tuple[BoardInUseError | None, int]:
    """Start a Flock on `path` (publishing one question): `(the error, or None; artifacts on the board)`."""
    flock = Flock(store=SQLiteBlackboardStore(path))
    flock.register_type(Question)
    error: BoardInUseError | None = None
    try:
        await flock.publish(Question(text="lost?"))
    except BoardInUseError as refused:
        error = refused
    try:
        return error, (await flock.store.query(ArtifactQuery())).total
    finally:  # counted before the shutdown: a query after it would reopen (and leak) the connection
        await flock.shutdown()


def test_a_second_process_running_a_flock_on_the_file_fails_fast_until_the_first_dies(tmp_path: Path) -> None:
    path = tmp_path / "board.db"
    command = [sys.executable, "-c", HOLDER, str(path)]
    with subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as holder:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "started\n"
        error, stored = anyio.run(second_flock, path)
        assert isinstance(error, BoardInUseError)
        assert (error.board, stored) == (f"the SQLite board {str(path)!r}", 0), "nothing was stored"
        assert error.holder.startswith(f"lease owner {socket.gethostname()}/{holder.pid}/")
        assert "PostgresBlackboardStore" in str(error)

        holder.kill()  # and not reaped: a zombie holds no descriptor, so it holds no board
        deadline = time.monotonic() + 10
        while process_state(holder.pid) != "Z" and time.monotonic() < deadline:
            time.sleep(0.01)
        assert process_state(holder.pid) == "Z"
        # The thread-group leader shows "Z" as soon as it has exited, while its other threads (the store's
        # worker threads) may still be tearing down and so still share its descriptors: wait for them.
        while len(os.listdir(f"/proc/{holder.pid}/task")) > 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert anyio.run(second_flock, path) == (None, 1)


async def test_two_store_objects_in_one_process_hold_the_file_one_at_a_time(tmp_path: Path) -> None:
    first, second = SQLiteBlackboardStore(tmp_path / "board.db"), SQLiteBlackboardStore(tmp_path / "board.db")
    await first.hold("run-1")
    with pytest.raises(BoardInUseError, match="lease owner run-1, since "):
        await second.hold("run-2")
    await first.close()
    await second.hold("run-2")
    await second.close()


def test_switching_to_wal_waits_while_another_process_opens_the_same_new_file() -> None:
    """Two processes opening one new file both switch it to WAL; SQLite refuses one of them at once ("database
    is locked", without waiting on the busy timeout) about once in twenty: the switch is tried again."""
    attempts: list[int] = []

    def switch() -> None:
        attempts.append(1)
        if len(attempts) < 3:
            raise sqlite3.OperationalError("database is locked")

    _while_busy(switch, timeout=5)
    assert len(attempts) == 3
    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        _while_busy(lambda: (_ for _ in ()).throw(sqlite3.OperationalError("no such table: x")), timeout=5)
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        _while_busy(lambda: (_ for _ in ()).throw(sqlite3.OperationalError("database is locked")), timeout=0)
