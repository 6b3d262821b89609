"""Folder walk: order, hidden files, suffixes, size limits, symlinks, loops, unusable names and permissions."""

from __future__ import annotations

import builtins
import hashlib
import os
from pathlib import Path

import pytest

from indexer import walk
from indexer.extract.loaders import Discovery, LoaderConfig, discover, file_sha256

pytestmark = pytest.mark.usefixtures("no_network")


def rel(found: Discovery, root: Path) -> list[str]:
    return [entry.path.relative_to(root).as_posix() for entry in found.files]


def skipped(found: Discovery, root: Path) -> dict[str, str]:
    return {s.path.relative_to(root).as_posix(): s.reason for s in found.skipped}


def touch(path: Path, data: bytes = b"text") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_recursive_deterministic_and_case_insensitive(tmp_path: Path) -> None:
    for name in [
        "b.txt",
        "a.PDF",
        "sub/c.Md",
        "sub/deeper/d.markdown",
        "e.htm",
        "f.HTML",
        "g.docx",
        "h.pptx",
        "i.epub",
    ]:
        touch(tmp_path / name)
    found = discover(tmp_path, LoaderConfig())
    assert rel(found, tmp_path) == [
        "a.PDF",
        "b.txt",
        "e.htm",
        "f.HTML",
        "g.docx",
        "h.pptx",
        "i.epub",
        "sub/c.Md",
        "sub/deeper/d.markdown",
    ]
    assert [e.format for e in found.files] == [
        "pdf",
        "txt",
        "html",
        "html",
        "docx",
        "pptx",
        "epub",
        "md",
        "md",
    ]
    assert discover(tmp_path, LoaderConfig()) == found
    assert found.skipped == () and found.unsupported == 0


def test_entries_carry_size_and_mtime_and_absolute_paths(tmp_path: Path) -> None:
    path = touch(tmp_path / "x.txt", b"12345")
    os.utime(path, (1_700_000_000, 1_700_000_000))
    (entry,) = discover(tmp_path, LoaderConfig()).files
    assert entry.path == path and entry.path.is_absolute()
    assert (entry.size, entry.mtime, entry.format) == (5, 1_700_000_000, "txt")


def test_relative_root_gives_absolute_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    touch(tmp_path / "docs" / "a.txt")
    monkeypatch.chdir(tmp_path)
    (entry,) = discover(Path("docs"), LoaderConfig()).files
    assert entry.path == tmp_path / "docs" / "a.txt"


def test_hidden_files_and_folders_are_ignored_unsupported_are_counted(tmp_path: Path) -> None:
    touch(tmp_path / ".secret.txt")
    touch(tmp_path / ".git" / "notes.md")
    touch(tmp_path / "sub" / ".cache" / "x.pdf")
    touch(tmp_path / "image.png")  # images are read by OCR
    touch(tmp_path / "notes.rtf")
    touch(tmp_path / "Makefile")
    touch(tmp_path / "ok.txt")
    found = discover(tmp_path, LoaderConfig())
    assert rel(found, tmp_path) == ["image.png", "ok.txt"]
    assert found.unsupported == 2
    assert found.skipped == ()


def test_size_limits_per_kind_of_format(tmp_path: Path) -> None:
    touch(tmp_path / "big.txt", b"x" * 2000)
    touch(tmp_path / "big.pdf", b"x" * 2000)
    touch(tmp_path / "small.md", b"x" * 10)
    found = discover(tmp_path, LoaderConfig(max_text_bytes=1000, max_binary_bytes=5000))
    assert rel(found, tmp_path) == ["big.pdf", "small.md"]
    assert skipped(found, tmp_path) == {"big.txt": "too large: 2.0 KB (limit for txt is 1000 bytes)"}
    defaults = LoaderConfig()
    assert defaults.size_limit("txt") == 10 * 1024 * 1024 and defaults.size_limit("pdf") == 200 * 1024 * 1024


def test_symlinks_are_followed_once(tmp_path: Path) -> None:
    touch(tmp_path / "real" / "a.txt")
    os.symlink(tmp_path / "real", tmp_path / "alias")  # walked first (name order), "real" is then a duplicate
    os.symlink(tmp_path / "real" / "a.txt", tmp_path / "link.txt")
    outside = touch(tmp_path.parent / f"{tmp_path.name}-outside" / "b.md")
    os.symlink(outside, tmp_path / "outside.md")
    found = discover(tmp_path, LoaderConfig())
    assert rel(found, tmp_path) == ["alias/a.txt"]  # outside.md leads out of the folder (issue 16)
    reasons = skipped(found, tmp_path)
    assert reasons["real"].startswith("same folder as")
    assert reasons["link.txt"].startswith("same file as")
    assert reasons["outside.md"] == walk.OUTSIDE_ROOT


def test_symlinks_never_lead_out_of_the_folder(tmp_path: Path) -> None:
    """Links to files or folders outside the root (absolute, relative, or via an inner link) are skipped
    and reported without naming their target; links that stay inside are followed once."""
    root, outside = tmp_path / "root", tmp_path / "private"
    touch(outside / "secret.txt", b"password")
    touch(outside / "deep" / "notes.md", b"private notes")
    touch(root / "sub" / "own.txt")
    touch(root / "sibling-of-sub.txt")
    os.symlink(outside, root / "linked-dir")  # a folder outside
    os.symlink(outside / "secret.txt", root / "passwd.txt")  # a file outside
    os.symlink("../../private/deep", root / "sub" / "up")  # relative, climbing out
    os.symlink(outside / "secret.txt", root / "secret.bin")  # a type never read: ignored silently
    os.symlink("../sibling-of-sub.txt", root / "sub" / "inside.txt")  # stays inside: indexed once
    os.symlink(root, tmp_path / "root-alias")
    for walked in (root, tmp_path / "root-alias"):  # the root itself may be a link
        found = discover(walked, LoaderConfig())
        assert rel(found, walked) == ["sibling-of-sub.txt", "sub/own.txt"]
        reasons = skipped(found, walked)
        assert reasons == {
            "linked-dir": walk.OUTSIDE_ROOT,
            "passwd.txt": walk.OUTSIDE_ROOT,
            "sub/up": walk.OUTSIDE_ROOT,
            "sub/inside.txt": "same file as sibling-of-sub.txt (symlink), indexed once",
        }
        assert not any(str(outside) in reason for reason in reasons.values())


def test_a_subfolder_is_the_boundary_not_the_allowed_root(tmp_path: Path) -> None:
    """Indexing R/sub never reaches R/other through a link, though both are inside R."""
    touch(tmp_path / "other" / "x.txt")
    touch(tmp_path / "sub" / "y.txt")
    os.symlink(tmp_path / "other", tmp_path / "sub" / "other")
    found = discover(tmp_path / "sub", LoaderConfig())
    assert rel(found, tmp_path / "sub") == ["y.txt"]
    assert skipped(found, tmp_path / "sub") == {"other": walk.OUTSIDE_ROOT}


def test_symlink_loops_are_reported_not_followed(tmp_path: Path) -> None:
    touch(tmp_path / "a" / "b" / "doc.txt")
    os.symlink("../..", tmp_path / "a" / "b" / "up")
    os.symlink("loop.txt", tmp_path / "loop.txt")
    found = discover(tmp_path, LoaderConfig())
    assert rel(found, tmp_path) == ["a/b/doc.txt"]
    reasons = skipped(found, tmp_path)
    assert reasons["a/b/up"].startswith("symlink loop: points back to")
    assert reasons["loop.txt"] == "symlink loop: the link resolves to itself"


def test_broken_symlinks(tmp_path: Path) -> None:
    os.symlink("missing.pdf", tmp_path / "gone.pdf")
    os.symlink("missing.bin", tmp_path / "gone.bin")  # not a supported type: silently ignored
    found = discover(tmp_path, LoaderConfig())
    assert skipped(found, tmp_path) == {"gone.pdf": "broken symlink: its target does not exist"}


def test_file_names_that_are_not_utf8(tmp_path: Path) -> None:
    for raw in (b"caf\xe9.txt", b"dir-\xff"):
        target = os.path.join(os.fsencode(tmp_path), raw)
        if raw.startswith(b"dir"):
            os.mkdir(target)
            with open(os.path.join(target, b"inside.txt"), "wb") as handle:
                handle.write(b"x")
        else:
            with open(target, "wb") as handle:
                handle.write(b"x")
    touch(tmp_path / "fine-日本.txt")
    found = discover(tmp_path, LoaderConfig())
    assert rel(found, tmp_path) == ["fine-日本.txt"]
    reasons = skipped(found, tmp_path)
    assert reasons["caf\ufffd.txt"].startswith("file name is not valid UTF-8")
    assert reasons["dir-\ufffd"].startswith("folder name is not valid UTF-8")
    for s in found.skipped:
        str(s.path).encode("utf-8")  # reports can be printed and stored


def test_special_files_are_skipped(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.txt")
    found = discover(tmp_path, LoaderConfig())  # must not block on the FIFO
    assert skipped(found, tmp_path) == {"pipe.txt": "not a regular file (device, FIFO or socket)"}


def _deny(monkeypatch: pytest.MonkeyPatch, *names: str) -> None:
    """chmod 000 does not stop root, so deny the way the kernel would."""
    real_open, real_scandir = builtins.open, os.scandir

    def fake_open(file, *args, **kwargs):  # type: ignore[no-untyped-def]
        if os.fspath(file).endswith(names):
            raise PermissionError(13, "Permission denied", os.fspath(file))
        return real_open(file, *args, **kwargs)

    def fake_scandir(path):  # type: ignore[no-untyped-def]
        if os.fspath(path).endswith(names):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(walk, "open", fake_open, raising=False)
    monkeypatch.setattr(walk.os, "scandir", fake_scandir)


def test_unreadable_files_and_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    touch(tmp_path / "locked.txt").chmod(0)
    touch(tmp_path / "closed" / "inner.txt")
    (tmp_path / "closed").chmod(0)
    touch(tmp_path / "open.txt")
    try:
        if os.geteuid() == 0:
            _deny(monkeypatch, "locked.txt", "closed")
        found = discover(tmp_path, LoaderConfig())
    finally:
        (tmp_path / "closed").chmod(0o755)
    assert rel(found, tmp_path) == ["open.txt"]
    assert skipped(found, tmp_path) == {
        "closed": "unreadable folder: permission denied",
        "locked.txt": "unreadable file: permission denied",
    }


def test_missing_root(tmp_path: Path) -> None:
    found = discover(tmp_path / "nope", LoaderConfig())
    assert found.files == () and len(found.skipped) == 1
    assert "disappeared" in found.skipped[0].reason or "not" in found.skipped[0].reason


def test_file_sha256_streams(tmp_path: Path) -> None:
    data = os.urandom(3 * walk.HASH_BLOCK + 17)
    path = touch(tmp_path / "blob.pdf", data)
    assert file_sha256(path) == hashlib.sha256(data).hexdigest()


def test_ignore_file_leaves_out_files_and_folders(tmp_path: Path) -> None:
    for name in [
        "README.md",
        "notes.txt",
        "build/out.html",
        "docs/a.md",
        "docs/draft.md",
        "docs/sub/README.md",
    ]:
        touch(tmp_path / name)
    (tmp_path / walk.IGNORE_FILENAME).write_text(
        "# comments and blank lines are fine\n\n/README.md\nbuild/\ndocs/*.md\n!docs/a.md\n", encoding="utf-8"
    )
    found = discover(tmp_path, LoaderConfig())
    # /README.md is anchored: docs/sub/README.md stays; a re-included file comes back.
    assert rel(found, tmp_path) == ["docs/a.md", "docs/sub/README.md", "notes.txt"]
    assert found.ignored == 3 and found.skipped == ()  # README.md, build/ (one folder), docs/draft.md


def test_without_an_ignore_file_nothing_is_ignored(tmp_path: Path) -> None:
    touch(tmp_path / "README.md")
    found = discover(tmp_path, LoaderConfig())
    assert rel(found, tmp_path) == ["README.md"] and found.ignored == 0


def test_an_unreadable_ignore_file_is_reported_and_the_walk_goes_on(tmp_path: Path) -> None:
    touch(tmp_path / "a.txt")
    (tmp_path / walk.IGNORE_FILENAME).mkdir()  # unreadable as a file, also for root
    found = discover(tmp_path, LoaderConfig())
    assert rel(found, tmp_path) == ["a.txt"]
    assert "patterns were not applied" in skipped(found, tmp_path)[walk.IGNORE_FILENAME]
