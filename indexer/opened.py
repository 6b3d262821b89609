"""A file opened once and checked by its descriptor: what the indexer hashes and extracts.

The walk resolves each path and keeps only those inside the folder being indexed, but a name is
not a file: between that check and a later ``open`` by name, a symlink renamed over the file
(by anyone who can write in the folder) would bring another file's text into the index. So
each file is opened once, here, and everything after reads that open file: the descriptor is
checked (a regular file, whose real path, as the kernel reports it for the descriptor, lies
inside the folder), the hash reads it, and the extractors read it through
``/proc/self/fd/N``, a name that always means the inode already open, whatever happens to the
path meanwhile. Where there is no ``/proc`` the descriptor's device and inode are compared with
the resolved path's instead (a narrower window, not none).
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path
from types import TracebackType

from indexer.walk import OUTSIDE_ROOT, is_within

_PROC_FD = Path("/proc/self/fd")
_BLOCK = 1024 * 1024


class OutsideRootError(OSError):
    """The file opened is not inside the folder being indexed (a symlink swapped in since the walk)."""


class NotRegularFileError(OSError):
    """The path now names a device, a FIFO or a socket."""


class OpenedFile:
    """An open, checked file: hash it with ``sha256``, hand ``path`` to parsers; close when done."""

    def __init__(self, fd: int, name: Path, size: int) -> None:
        self.fd = fd
        self.name = name  # the path as walked, for messages
        self.size = size

    @property
    def path(self) -> Path:
        """A path that opens this very file (the inode checked), for libraries that take a file name."""
        return _PROC_FD / str(self.fd) if _PROC_FD.is_dir() else self.name

    def sha256(self) -> str:
        """sha256 hex of the open file, read in blocks (never whole), from its start."""
        digest = hashlib.sha256()
        offset = 0
        while block := os.pread(self.fd, _BLOCK, offset):
            digest.update(block)
            offset += len(block)
        return digest.hexdigest()

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> OpenedFile:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def open_checked(path: Path, real_root: str) -> OpenedFile:
    """Open ``path`` for reading once; OutsideRootError or NotRegularFileError when the open file is not
    a regular file inside ``real_root`` (OSError as the system raised it when it cannot be opened)."""
    flags = (
        os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_NONBLOCK", 0)
    )
    fd = os.open(path, flags)  # O_NONBLOCK: a FIFO swapped in must not block the run
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotRegularFileError(0, "not a regular file (device, FIFO or socket)", str(path))
        if not is_within(_real_path(fd, path, st), real_root):
            raise OutsideRootError(0, OUTSIDE_ROOT, str(path))
    except BaseException:
        os.close(fd)
        raise
    return OpenedFile(fd, Path(path), st.st_size)


def _real_path(fd: int, path: Path, st: os.stat_result) -> str:
    """Where the open file lives: the kernel's own answer for the descriptor where /proc exists."""
    link = _PROC_FD / str(fd)
    try:
        return os.readlink(link)
    except OSError:
        pass
    real = os.path.realpath(path)
    try:
        same = os.stat(real)
    except OSError:
        return "/nonexistent"  # gone or changed: treated as outside
    return real if (same.st_dev, same.st_ino) == (st.st_dev, st.st_ino) else "/nonexistent"
