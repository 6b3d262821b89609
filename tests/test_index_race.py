"""A symlink swapped in while a folder is indexed never brings outside text in (issue 21, item 4).

The walk resolves each path once; the indexer then opens each file once and reads only that
open file (indexer.opened). The swaps here are deterministic: a hook renames a symlink to an
outside file over the indexed file right before the open, right after it, and between the
hash and the extraction (where the unpatched indexer opened the file by name a second time).
A file skipped for a reason that will not pass (a link out of the folder, a FIFO, too large)
loses the chunks indexed from it.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import indexer.pipeline
from indexer.opened import OpenedFile, open_checked
from indexer.pipeline import IndexConfig, index_folder
from indexer.walk import OUTSIDE_ROOT
from search.core.reports import IndexReport
from search.space.vector_space import VectorSpace
from search.stores.base import VectorStore
from search.stores.client import ClientStore
from search.stores.payload import Field
from tests.fakes import FakeEmbedder

pytestmark = pytest.mark.usefixtures("no_network")

NAME = "docs"
SECRET = "zanzibar outside secret text"
INSIDE = "honeybees in the winter cluster"


@pytest.fixture
def store() -> Iterator[VectorStore]:
    store = ClientStore(":memory:")
    yield store
    store.close()


@pytest.fixture
def folder(tmp_path: Path) -> tuple[Path, Path, Path]:
    root, secret = tmp_path / "root", tmp_path / "secret.txt"
    root.mkdir()
    secret.write_text(SECRET, encoding="utf-8")
    target = root / "notes.txt"
    target.write_text(INSIDE, encoding="utf-8")
    return root, target, secret


def run(root: Path, store: VectorStore, config: IndexConfig | None = None) -> IndexReport:
    return index_folder(
        root, VectorSpace(FakeEmbedder()), store, NAME, config=config or IndexConfig(optimize=False)
    )


def stored_text(store: VectorStore) -> str:
    return " ".join(str(p[Field.TEXT]) for _, p in store.iter_payloads(NAME, [Field.TEXT]))


def swap(target: Path, secret: Path) -> None:
    """Rename a symlink to the outside file over ``target`` (atomic, as an attacker would)."""
    link = target.with_name(".swap")
    os.symlink(secret, link)
    os.replace(link, target)


def test_a_swap_between_the_hash_and_the_extraction_reads_the_file_opened(
    folder: tuple[Path, Path, Path], store: VectorStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The attack of issue 21: the unpatched indexer hashed the file, then opened it again by name."""
    root, target, secret = folder
    real_sha = OpenedFile.sha256

    def hash_then_swap(opened: OpenedFile) -> str:
        digest = real_sha(opened)
        swap(target, secret)  # after the hash, before any parser opens anything
        return digest

    monkeypatch.setattr(OpenedFile, "sha256", hash_then_swap)
    report = run(root, store)
    assert report.indexed == ("notes.txt",)
    assert INSIDE in stored_text(store) and "zanzibar" not in stored_text(store)


def test_a_swap_right_after_the_open_changes_nothing(
    folder: tuple[Path, Path, Path], store: VectorStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, target, secret = folder

    def open_then_swap(path: Path, real_root: str) -> OpenedFile:
        opened = open_checked(path, real_root)
        if path.name == "notes.txt":
            swap(target, secret)
        return opened

    monkeypatch.setattr(indexer.pipeline, "open_checked", open_then_swap)
    run(root, store)
    assert "zanzibar" not in stored_text(store) and INSIDE in stored_text(store)


def test_a_swap_before_the_open_is_refused_and_the_file_loses_its_chunks(
    folder: tuple[Path, Path, Path], store: VectorStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, target, secret = folder
    run(root, store)
    target.write_text(INSIDE + " edited", encoding="utf-8")  # changed: this run hashes and reads it

    def swap_then_open(path: Path, real_root: str) -> OpenedFile:
        if path.name == "notes.txt":
            swap(target, secret)  # after the walk saw a regular file inside the folder
        return open_checked(path, real_root)

    monkeypatch.setattr(indexer.pipeline, "open_checked", swap_then_open)
    report = run(root, store)
    assert [(s.path, s.reason) for s in report.skipped] == [("notes.txt", OUTSIDE_ROOT)]
    assert store.count(NAME) == 0, "the file's earlier chunks must not stay searchable"
    monkeypatch.undo()
    again = run(root, store)  # the walk now sees the link itself: skipped, still nothing indexed
    assert [(s.path, s.reason) for s in again.skipped] == [("notes.txt", OUTSIDE_ROOT)]
    assert store.count(NAME) == 0 and "zanzibar" not in stored_text(store)


def test_a_link_out_of_the_folder_found_by_the_walk_removes_what_was_indexed_there(
    folder: tuple[Path, Path, Path], store: VectorStore
) -> None:
    root, target, secret = folder
    run(root, store)
    assert store.count(NAME) > 0
    swap(target, secret)
    report = run(root, store)
    assert [(s.path, s.reason) for s in report.skipped] == [("notes.txt", OUTSIDE_ROOT)]
    assert store.count(NAME) == 0


def test_a_fifo_or_a_grown_file_swapped_in_is_skipped_without_blocking_or_reading_it(
    folder: tuple[Path, Path, Path], store: VectorStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, target, _ = folder
    run(root, store)
    target.write_text(INSIDE + " again", encoding="utf-8")

    def fifo_then_open(path: Path, real_root: str) -> OpenedFile:
        path.unlink()
        os.mkfifo(path)  # a reader opening it by name without O_NONBLOCK would wait forever
        return open_checked(path, real_root)

    with monkeypatch.context() as patch:
        patch.setattr(indexer.pipeline, "open_checked", fifo_then_open)
        report = run(root, store)
    assert [(s.path, "not a regular file" in s.reason) for s in report.skipped] == [("notes.txt", True)]
    assert store.count(NAME) == 0
    target.unlink()
    target.write_text(INSIDE, encoding="utf-8")
    run(root, store)

    def grow_then_open(path: Path, real_root: str) -> OpenedFile:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write("x" * 4096)
        return open_checked(path, real_root)

    monkeypatch.setattr(indexer.pipeline, "open_checked", grow_then_open)
    small = IndexConfig(optimize=False).with_max_file_mb(0.002)  # 2 KB: the walk saw 31 bytes
    report = run(root, store, small)
    assert [(s.path, s.reason.startswith("too large")) for s in report.skipped] == [("notes.txt", True)]
    assert store.count(NAME) == 0


def test_the_descriptor_is_checked_not_the_name(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside.txt"
    root.mkdir()
    outside.write_text("outside", encoding="utf-8")
    (root / "inside.txt").write_text("inside", encoding="utf-8")
    os.symlink(outside, root / "link.txt")
    real_root = os.path.realpath(root)
    with open_checked(root / "inside.txt", real_root) as opened:
        assert opened.path.read_text(encoding="utf-8") == "inside"  # what parsers get: this inode
        os.replace(root / "link.txt", root / "inside.txt")  # the name now leads outside
        assert opened.path.read_text(encoding="utf-8") == "inside"
        assert opened.sha256() == hashlib.sha256(b"inside").hexdigest()
    with pytest.raises(OSError, match="outside the indexed folder"):
        open_checked(root / "inside.txt", real_root)
