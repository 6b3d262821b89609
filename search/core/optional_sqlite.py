"""A SQLite file that is only a cache: no state of it ever stops a run.

Why: the embedding cache and the OCR cache save work, nothing more. A file that is not a
database or is damaged is moved aside (``<name>.damaged``, kept for a look) and an empty one
started; a folder that is read-only, full or not ours turns the cache off for this process.
Each case is said once, in one line naming the file; ``disabled`` holds why the cache is off.
One connection behind a lock (safe across threads), WAL so readers and a writer share the file.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")

# SQLite's result codes (Python 3.11+ exposes them as sqlite_errorname) that mean the file itself is bad.
_DAMAGE = frozenset({"SQLITE_CORRUPT", "SQLITE_NOTADB"})


class OptionalSqlite:
    """``setup`` creates the schema on a fresh connection and reads one row of it (so a damaged file
    fails at open, not halfway through a run); ``what`` names the cache in messages."""

    def __init__(self, path: Path, what: str, setup: Callable[[sqlite3.Connection], None]) -> None:
        self.path = path
        self._what = what
        self._setup = setup
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self.disabled: str | None = None
        try:
            self._db = self._open()
        except (sqlite3.Error, OSError) as exc:
            if not is_damage(exc):
                self._disable(exc)
                return
            self._set_aside(exc)

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(str(self.path), timeout=30.0, check_same_thread=False, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across app crashes
            self._setup(db)
        except BaseException:
            db.close()
            raise
        return db

    def run(self, work: Callable[[sqlite3.Connection], T], default: T) -> T:
        """``work(db)`` under the lock; ``default`` when the cache is off or the work failed (which
        sets a damaged file aside, or turns the cache off, in one line)."""
        with self._lock:
            if self._db is None:
                return default
            try:
                return work(self._db)
            except (sqlite3.Error, OSError) as exc:
                if is_damage(exc):
                    self._set_aside(exc)
                else:
                    self._disable(exc)
                return default

    def write(self, work: Callable[[sqlite3.Connection], object]) -> None:
        """``work(db)`` in one transaction (rolled back if it fails)."""

        def transaction(db: sqlite3.Connection) -> None:
            db.execute("BEGIN IMMEDIATE")
            try:
                work(db)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

        self.run(transaction, None)

    def _set_aside(self, exc: BaseException) -> None:
        """A damaged file: moved aside (kept for a look), and an empty one in its place."""
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
            self._db = None
        aside = self.path.with_name(self.path.name + ".damaged")
        try:
            os.replace(self.path, aside)
            for suffix in ("-wal", "-shm"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)
            self._db = self._open()
        except (sqlite3.Error, OSError) as again:
            self._disable(again)
            return
        log.warning(
            "%s %s is damaged (%s): moved to %s, continuing with an empty cache",
            self._what,
            self.path,
            reason(exc, self.path),
            aside.name,
        )

    def _disable(self, exc: BaseException) -> None:
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
            self._db = None
        self.disabled = reason(exc, self.path)
        log.warning("%s %s cannot be used (%s): continuing without it", self._what, self.path, self.disabled)

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                with contextlib.suppress(sqlite3.Error):
                    self._db.close()
                self._db = None


def is_damage(exc: BaseException) -> bool:
    """Whether an error means the file itself is bad (rather than its folder or disk)."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    if name.startswith("SQLITE_CORRUPT") or name in _DAMAGE:
        return True
    text = str(exc).lower()
    return (
        "not a database" in text
        or "malformed" in text
        or (isinstance(exc, sqlite3.OperationalError) and "no such column" in text)
    )


def _read_only_fs(path: Path | None) -> bool:
    try:
        return path is not None and bool(os.statvfs(path.parent).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def reason(exc: BaseException, path: Path | None = None) -> str:
    """Why, in words a user can act on."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    errno_ = getattr(exc, "errno", None)
    if name.startswith("SQLITE_FULL") or errno_ in (errno.ENOSPC, errno.EDQUOT):
        return "the disk holding it is full"
    if name.startswith("SQLITE_READONLY") or errno_ == errno.EROFS or _read_only_fs(path):
        return "it is on a read-only file system or not writable"
    if name.startswith(("SQLITE_CANTOPEN", "SQLITE_PERM", "SQLITE_AUTH")) or errno_ in (
        errno.EPERM,
        errno.EACCES,
    ):
        return "it cannot be opened for writing (permissions?)"
    return " ".join(str(exc).split())[:200] or type(exc).__name__
