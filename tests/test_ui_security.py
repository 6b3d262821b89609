"""What a browser user can make the server read or write: allowed roots, uploads, names."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from search.application.access import (
    check_collection_name,
    resolve_allowed_folder,
    safe_filename,
    save_uploads,
    tidy_upload,
    uploads_size,
)
from search.core.errors import NotAllowedError


@pytest.fixture
def roots(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "allowed"
    (root / "docs" / "sub").mkdir(parents=True)
    outside = tmp_path / "secret"
    outside.mkdir()
    (outside / "passwords.txt").write_text("hunter2")
    return root, outside


def test_folder_inside_root_is_resolved(roots: tuple[Path, Path]) -> None:
    root, _ = roots
    assert resolve_allowed_folder(str(root / "docs"), [root]) == (root / "docs").resolve()
    assert (
        resolve_allowed_folder("docs/sub", [root]) == (root / "docs" / "sub").resolve()
    )  # relative to the root
    assert resolve_allowed_folder(str(root), [root]) == root.resolve()
    assert resolve_allowed_folder(f"  {root}/docs/../docs  ", [root]) == (root / "docs").resolve()


@pytest.mark.parametrize(
    "raw",
    ["../../etc", "../secret", "/etc", "docs/../../secret", "/", "~", "docs/sub/../../../secret"],
)
def test_traversal_is_refused(roots: tuple[Path, Path], raw: str) -> None:
    root, _ = roots
    with pytest.raises(NotAllowedError, match="outside the folders"):
        resolve_allowed_folder(raw, [root])


def test_symlink_out_of_the_root_is_refused(roots: tuple[Path, Path]) -> None:
    root, outside = roots
    os.symlink(outside, root / "link")
    with pytest.raises(NotAllowedError, match="outside"):
        resolve_allowed_folder(str(root / "link"), [root])
    with pytest.raises(NotAllowedError, match="outside"):
        resolve_allowed_folder("link", [root])


def test_prefix_sibling_is_not_inside(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs-private").mkdir()
    with pytest.raises(NotAllowedError):
        resolve_allowed_folder(str(tmp_path / "docs-private"), [tmp_path / "docs"])


def test_no_roots_means_folder_indexing_is_off(tmp_path: Path) -> None:
    with pytest.raises(NotAllowedError, match="--allow-root"):
        resolve_allowed_folder(str(tmp_path), [])


def test_bad_inputs(roots: tuple[Path, Path]) -> None:
    root, _ = roots
    for raw in ("", "   ", "docs\x00/etc", "x" * 5000):
        with pytest.raises(NotAllowedError):
            resolve_allowed_folder(raw, [root])
    (root / "file.txt").write_text("x")
    with pytest.raises(NotAllowedError, match="Not a folder"):
        resolve_allowed_folder("file.txt", [root])
    with pytest.raises(NotAllowedError, match="Not a folder"):
        resolve_allowed_folder("missing", [root])


def test_collection_names() -> None:
    assert check_collection_name(" docs-e5_small.v2 ") == "docs-e5_small.v2"
    for bad in ("", "../x", "a/b", "-x", "x" * 65, "a b", "<script>", "a..b"):
        with pytest.raises(NotAllowedError):
            check_collection_name(bad)


def test_safe_filename() -> None:
    assert safe_filename("../../etc/passwd.txt") == "passwd.txt"
    assert safe_filename("..\\..\\win.ini.txt") == "win.ini.txt"
    assert safe_filename(".hidden.md") == "hidden.md"
    assert safe_filename("a\x00b\nc.txt") == "abc.txt"
    assert safe_filename("..") == "upload"


def test_uploads_are_size_limited_and_typed(tmp_path: Path) -> None:
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    small = incoming / "notes.txt"
    small.write_text("hello")
    big = incoming / "big.txt"
    big.write_bytes(b"x" * 2048)
    exe = incoming / "tool.exe"
    exe.write_bytes(b"MZ")
    dest = tmp_path / "uploads"
    result = save_uploads([small, big, exe, incoming / "gone.txt"], dest, max_bytes=1024)
    assert result.saved == ("notes.txt",) and result.folder is not None and result.folder.parent == dest
    reasons = dict(result.refused)
    assert "too large" in reasons["big.txt"]
    assert "unsupported" in reasons["tool.exe"]
    assert "unreadable" in reasons["gone.txt"]
    assert sorted(p.name for p in result.folder.iterdir()) == ["notes.txt"]
    nothing = save_uploads([exe], dest, max_bytes=1024)
    assert nothing.folder is None and len(list(dest.iterdir())) == 1  # no empty folder left


def test_each_upload_has_a_folder_of_its_own_and_all_share_a_quota(tmp_path: Path) -> None:
    """Two callers uploading notes.txt never overwrite each other; a quota bounds all uploads together."""
    first, second = tmp_path / "in1" / "notes.txt", tmp_path / "in2" / "notes.txt"
    for path, text in ((first, "Honeybees in winter."), (second, "Tea harvest in spring.")):
        path.parent.mkdir()
        path.write_text(text, encoding="utf-8")
    dest = tmp_path / "uploads"
    both = save_uploads([first, second], dest, max_bytes=1024)
    assert both.saved == ("notes.txt", "notes (2).txt")  # two of one name in one upload: both kept
    again = save_uploads([second], dest, max_bytes=1024)
    assert again.folder is not None and again.folder != both.folder
    assert (
        both.folder is not None
        and (both.folder / "notes.txt").read_text(encoding="utf-8") == "Honeybees in winter."
    )
    assert (again.folder / "notes.txt").read_text(encoding="utf-8") == "Tea harvest in spring."
    quota = uploads_size(dest) + 25  # room for one more 20-byte file, not two
    full = save_uploads([first, second], dest, max_bytes=1024, quota_bytes=quota)
    assert full.saved == ("notes.txt",) and "uploads folder is full" in dict(full.refused)["notes (2).txt"]
    assert uploads_size(dest) <= quota
    assert full.folder is not None
    tidy_upload(full.folder, ["notes.txt"])  # a file the indexer skipped is not kept, nor its empty folder
    assert not full.folder.exists()
