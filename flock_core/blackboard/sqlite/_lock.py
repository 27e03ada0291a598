"""The hold of a SQLite board: an exclusive lock on `<file>.lock` that only a live process can keep.

The kernel releases an `flock(2)` lock when the last descriptor of its open file closes, which happens
when the holding process exits, is killed, or becomes a zombie; it is not tied to a process id, so
PID reuse, PID namespaces (a container's app is always PID 1) and zombies cannot fake a holder. The
descriptor is not inherited by programs the process starts. Tools that only read or maintain the file
(export, retention, `flock` commands) do not take the lock.

Written by hand on `fcntl` rather than with a lock library: the holder's description is kept in the
lock file for the error a second process gets, and a contender must not truncate it (`filelock` does).
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from pathlib import Path

from ...exceptions import BoardInUseError

__all__ = ["BoardLock"]


class BoardLock:
    """An exclusive, non-blocking lock on a board file's lock file, held until `release()`."""

    def __init__(self, database: Path) -> None:
        self.path = database.with_name(database.name + ".lock")
        self.board = f"the SQLite board {str(database)!r}"
        self._fd: int | None = None
        self.owner: str | None = None

    def acquire(self, owner: str) -> None:
        """Hold the lock for `owner`, or raise `BoardInUseError` naming the process that holds it."""
        if self.owner is not None:
            if self.owner != owner:
                raise BoardInUseError(self.board, f"lease owner {self.owner}, through this same store object")
            return
        if self.path.name == ":memory:.lock":  # a private in-memory database: no other process can open it
            self.owner = owner
            return
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        if not _try_lock(fd):
            holder = _read(fd) or "a process that has not written its name yet"
            os.close(fd)
            raise BoardInUseError(self.board, holder)
        since = datetime.now(UTC).isoformat(timespec="seconds")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"lease owner {owner}, since {since}".encode(), 0)
        self._fd, self.owner = fd, owner

    def release(self) -> None:
        """Let go of the lock (closing the descriptor releases it)."""
        fd, self._fd, self.owner = self._fd, None, None
        if fd is not None:
            os.close(fd)


def _read(fd: int) -> str:
    return os.pread(fd, 512, 0).decode(errors="replace").strip()


if sys.platform == "win32":  # pragma: no cover - the test suite runs on Linux
    import msvcrt

    def _try_lock(fd: int) -> bool:
        try:
            os.lseek(fd, 1 << 20, os.SEEK_SET)  # lock a byte past the holder's description, which stays readable
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True
