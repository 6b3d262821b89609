"""Folder walk: which files the indexer will try, and which it cannot use and why.

Nothing here opens a file for more than a permission check, so a 50 GB file or
a FIFO named ``notes.txt`` costs one ``stat``. Symlinks are followed only while
they stay inside the folder being indexed: a server may be told to index a folder
someone else can write to, and a link in it to ``/etc`` or a home folder must not
bring that text into the index (and out through search). Hidden files and folders are never
walked; a ``.mlsearchignore`` file at the root (gitignore syntax, matched by
``pathspec``) leaves out more, e.g. build scripts, a README that catalogues the
folder, or generated exports that would crowd the real documents out of results.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

import pathspec

from indexer.extract.formats import LoaderConfig, format_of, human_size

HASH_BLOCK = 1024 * 1024
IGNORE_FILENAME = ".mlsearchignore"


@dataclass(frozen=True)
class FileEntry:
    """A file worth extracting: the pipeline compares (size, mtime) and hashes before parsing."""

    path: Path  # below the root as walked (symlinks not resolved), absolute
    size: int
    mtime: float
    format: str


@dataclass(frozen=True)
class Skipped:
    """A supported-looking file or folder that cannot be used, with a reason a user can act on."""

    path: Path
    reason: str
    # Unreadable now (permissions, I/O), perhaps passing: what is indexed of it stays. Any other reason
    # (a link out of the folder, a loop, a device, too large, a bad name) removes its indexed chunks.
    transient: bool = False


@dataclass(frozen=True)
class Discovery:
    files: tuple[FileEntry, ...]
    skipped: tuple[Skipped, ...]
    unsupported: int  # regular files of types the indexer does not read
    ignored: int = 0  # files and folders left out by the root's .mlsearchignore


def file_sha256(path: Path) -> str:
    """sha256 hex of a file, read in blocks so a large PDF is never held in memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


OUTSIDE_ROOT = "symlink to a place outside the indexed folder: not followed"


def discover(root: Path, config: LoaderConfig) -> Discovery:
    """Walk ``root`` recursively in name order, following symlinks that stay inside it, never looping."""
    root_path = Path(os.path.abspath(root))
    try:
        real_root = os.path.realpath(root_path)
        os.stat(root_path)
    except OSError as exc:
        return Discovery((), (Skipped(root_path, _os_reason(exc, "folder")),), 0)
    ignore, problem = _ignore_spec(root_path / IGNORE_FILENAME)
    walker = _Walker(config, root_path, ignore, real_root)
    if problem is not None:
        walker.skipped.append(problem)
    walker.walk(root_path, (real_root,))
    return Discovery(tuple(walker.files), tuple(walker.skipped), walker.unsupported, walker.ignored)


def _ignore_spec(path: Path) -> tuple[pathspec.GitIgnoreSpec | None, Skipped | None]:
    """The root's ignore patterns; an unreadable file is reported and the walk goes on without it."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        return None, Skipped(path, f"{_os_reason(exc, 'file')}; its patterns were not applied")
    return pathspec.GitIgnoreSpec.from_lines(lines), None


class _Walker:
    """Accumulates one walk's results; lives for one ``discover`` call only."""

    def __init__(
        self,
        config: LoaderConfig,
        root: Path,
        ignore: pathspec.GitIgnoreSpec | None = None,
        real_root: str | None = None,
    ) -> None:
        self.config = config
        self.root = root
        self.real_root = real_root or os.path.realpath(root)
        self.ignore = ignore
        self.files: list[FileEntry] = []
        self.skipped: list[Skipped] = []
        self.unsupported = 0
        self.ignored = 0
        self.seen_dirs: dict[str, Path] = {}  # real path -> first path it was walked under
        self.seen_files: dict[str, Path] = {}

    def walk(self, folder: Path, ancestors: tuple[str, ...]) -> None:
        self.seen_dirs.setdefault(ancestors[-1], folder)
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            self.skipped.append(Skipped(_display_path(folder), _os_reason(exc, "folder"), _transient(exc)))
            return
        for entry in entries:
            if entry.name.startswith("."):
                continue
            path = folder / entry.name
            if not _utf8_name(entry.name):
                self._skip_bad_name(entry, path)
                continue
            if _is_symlink(entry) and not is_within(os.path.realpath(path), self.real_root):
                self._skip_outside(entry, path)
                continue
            try:
                st = os.stat(path)  # follows symlinks
            except OSError as exc:
                self._skip_unstatable(entry, path, exc)
                continue
            is_dir = stat.S_ISDIR(st.st_mode)
            if self._ignored(path, is_dir):
                self.ignored += 1
            elif is_dir:
                self._enter(path, ancestors)
            else:
                self._consider_file(path, st)

    def _ignored(self, path: Path, is_dir: bool) -> bool:
        if self.ignore is None:
            return False
        relative = path.relative_to(self.root).as_posix()
        return self.ignore.match_file(relative + "/" if is_dir else relative)

    def _enter(self, path: Path, ancestors: tuple[str, ...]) -> None:
        real = os.path.realpath(path)
        if real in ancestors:
            first = self.seen_dirs.get(real)
            where = self._shown(first) if first is not None else "a folder above it"
            self.skipped.append(Skipped(path, f"symlink loop: points back to {where}"))
            return
        if real in self.seen_dirs:
            where = self._shown(self.seen_dirs[real])
            self.skipped.append(Skipped(path, f"same folder as {where} (symlink), walked once"))
            return
        self.walk(path, (*ancestors, real))

    def _consider_file(self, path: Path, st: os.stat_result) -> None:
        fmt = format_of(path)
        if fmt is None:
            if stat.S_ISREG(st.st_mode):
                self.unsupported += 1
            return
        if not stat.S_ISREG(st.st_mode):
            self.skipped.append(Skipped(path, "not a regular file (device, FIFO or socket)"))
            return
        limit = self.config.size_limit(fmt)
        if st.st_size > limit:
            reason = f"too large: {human_size(st.st_size)} (limit for {fmt} is {human_size(limit)})"
            self.skipped.append(Skipped(path, reason))
            return
        real = os.path.realpath(path)
        if real in self.seen_files:
            where = self._shown(self.seen_files[real])
            self.skipped.append(Skipped(path, f"same file as {where} (symlink), indexed once"))
            return
        try:
            with open(path, "rb"):
                pass
        except OSError as exc:
            self.skipped.append(Skipped(path, _os_reason(exc, "file"), _transient(exc)))
            return
        self.seen_files[real] = path
        self.files.append(FileEntry(path, st.st_size, st.st_mtime, fmt))

    def _skip_bad_name(self, entry: os.DirEntry[str], path: Path) -> None:
        try:
            is_dir = entry.is_dir()
        except OSError:
            is_dir = False
        if is_dir or format_of(path) is not None:
            what = "folder" if is_dir else "file"
            reason = f"{what} name is not valid UTF-8 (it cannot be stored as JSON); rename it"
            self.skipped.append(Skipped(_display_path(path), reason))
        elif entry.is_file():
            self.unsupported += 1

    def _shown(self, path: Path) -> str:
        """A path as reasons name it: relative to the root (reports reach browsers; server paths must not)."""
        relative = path.relative_to(self.root).as_posix()
        return "the folder itself" if relative == "." else relative

    def _skip_outside(self, entry: os.DirEntry[str], path: Path) -> None:
        """A link out of the root: reported (without its target, which may be private) if it could matter."""
        try:
            is_dir = entry.is_dir()  # follows the link
        except OSError:
            is_dir = False
        if is_dir or format_of(path) is not None:  # links to files of types never read: not worth a line
            self.skipped.append(Skipped(path, OUTSIDE_ROOT))

    def _skip_unstatable(self, entry: os.DirEntry[str], path: Path, exc: OSError) -> None:
        if exc.errno == errno.ELOOP:
            self.skipped.append(Skipped(path, "symlink loop: the link resolves to itself"))
        elif entry.is_symlink() and exc.errno == errno.ENOENT:
            if format_of(path) is not None:
                self.skipped.append(Skipped(path, "broken symlink: its target does not exist"))
        else:
            self.skipped.append(Skipped(path, _os_reason(exc, "file"), _transient(exc)))


def _transient(exc: OSError) -> bool:
    """Permissions and I/O errors may pass (chunks kept); a loop or a vanished file will not."""
    return not isinstance(exc, FileNotFoundError) and exc.errno != errno.ELOOP


def is_within(real_path: str, real_root: str) -> bool:
    """Whether a resolved path is the resolved root or below it (``/a/bc`` is not below ``/a/b``)."""
    return real_path == real_root or real_path.startswith(real_root.rstrip("/") + "/")


def _is_symlink(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_symlink()
    except OSError:
        return False


def _utf8_name(name: str) -> bool:
    """os.scandir smuggles undecodable bytes in as lone surrogates; those names cannot go into JSON."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _display_path(path: Path) -> Path:
    """The path with undecodable bytes shown as U+FFFD, so reports can be printed and serialised."""
    return Path(os.fsencode(path).decode("utf-8", errors="replace"))


def _os_reason(exc: OSError, what: str) -> str:
    if isinstance(exc, PermissionError):
        return f"unreadable {what}: permission denied"
    if exc.errno == errno.ELOOP:
        return "symlink loop: the link resolves to itself"
    if isinstance(exc, FileNotFoundError):
        return f"{what} disappeared or is a broken symlink"
    return f"unreadable {what}: {exc.strerror or exc}"
