"""A full disk is one line, never a SIGBUS; reading keeps working (issue 21, item 6).

qdrant-edge writes through memory maps over sparse files: a write into a full file system was a
SIGBUS, and so was merely opening a collection (the engine writes as it loads). The store now
checks free space before every write and, below a few MB, reads copies of its collections from a
temporary folder with room. The real thing runs on a small tmpfs where mounting is permitted
(root); the same paths run everywhere with the free space simulated. A full cache folder turns the
optional embedding cache off.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import search.stores.edge as edge
from search.core.errors import DiskFullError
from search.stores.base import CollectionMeta, Point, StoreQuery, search_one
from search.stores.edge import EdgeStore, sparse_copy
from tests.fakes import fake_spec

pytestmark = pytest.mark.usefixtures("no_network")

REPO = Path(__file__).resolve().parents[1]
MB = 1024 * 1024


def point(i: int, text: str = "") -> Point:
    vector = np.zeros(64, np.float32)
    vector[i % 64] = 1.0
    return Point(
        f"5f1d7c9e-0000-5000-8000-{i:012d}", vector, {"text": text or f"passage {i}", "source": "/x"}
    )


def cli(data: Path, cache: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tests.fake_cli", "--data-dir", str(data), "--cache-dir", str(cache), *args],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=180,
    )


def lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip()]


def test_writes_stop_with_one_line_before_the_disk_is_full(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    free = {"bytes": 10_000 * MB}
    monkeypatch.setattr(edge, "free_bytes", lambda folder: free["bytes"])
    store = EdgeStore(tmp_path / "q")
    try:
        store.create_collection("c", CollectionMeta.for_model(fake_spec()))
        store.upsert("c", [point(i) for i in range(10)])
        free["bytes"] = 65 * MB  # above the 64 MB margin, but not with three times the write on top
        with pytest.raises(DiskFullError, match=r"^the disk holding .* is full \(65 MB free, writing needs"):
            store.upsert("c", [point(i, "word " * 20_000) for i in range(10, 20)])  # 1 MB of text
        free["bytes"] = 10 * MB
        for write in (
            lambda: store.upsert("c", [point(99)]),
            lambda: store.delete_ids("c", [point(1).id]),
            lambda: store.create_collection("d", CollectionMeta.for_model(fake_spec())),
        ):
            with pytest.raises(DiskFullError, match=f"the disk holding {tmp_path / 'q'} is full"):
                write()
        store.optimize("c")  # no room to build the index: said, skipped, left for the next run
        assert store.count("c") == 10 and (tmp_path / "q" / "collections" / "c" / edge.PENDING_FILE).exists()
        assert search_one(store, "c", StoreQuery(dense=point(3).vector), 1)[0].id == point(3).id
    finally:
        store.close()


def test_on_a_full_disk_the_store_reads_a_copy_and_refuses_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with EdgeStore(tmp_path / "q") as store:
        store.create_collection("c", CollectionMeta.for_model(fake_spec()))
        store.upsert("c", [point(i) for i in range(10)])
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "q" / "collections").rglob("*") if p.is_file()}
    monkeypatch.setattr(
        edge, "free_bytes", lambda folder: 0 if Path(folder).is_relative_to(tmp_path) else 10_000 * MB
    )
    store = EdgeStore(tmp_path / "q")
    try:
        assert store.list_collections() == ["c"] and store.count("c") == 10
        assert search_one(store, "c", StoreQuery(dense=point(7).vector), 1)[0].id == point(7).id
        with pytest.raises(DiskFullError, match=r"is full \(0 KB free\)"):
            store.upsert("c", [point(42)])
        snapshot = store._snapshot
        assert snapshot is not None and not snapshot.is_relative_to(tmp_path)
    finally:
        store.close()
    assert not snapshot.exists()  # the copy goes with the store
    after = {p: p.stat().st_mtime_ns for p in (tmp_path / "q" / "collections").rglob("*") if p.is_file()}
    assert after == before  # nothing of the real index was written


def test_a_sparse_copy_keeps_holes_and_bytes(tmp_path: Path) -> None:
    source = tmp_path / "sparse.dat"
    with open(source, "wb") as handle:
        handle.truncate(64 * MB)
        handle.seek(10 * MB)
        handle.write(b"data in the middle")
        handle.seek(64 * MB - 5)
        handle.write(b"tail!")
    copy = Path(sparse_copy(str(source), str(tmp_path / "copy.dat")))
    assert copy.stat().st_size == source.stat().st_size
    assert copy.stat().st_blocks * 512 < 2 * MB  # not 64 MB written
    with open(source, "rb") as a, open(copy, "rb") as b:
        while block := a.read(MB):
            assert block == b.read(MB)


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 300 MB tmpfs (a new collection's files are ~200 MB of holes), unmounted afterwards."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    mount = tmp_path / "tmpfs"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=300m", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode:
        pytest.skip(f"mount -t tmpfs is not permitted here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def fill(mount: Path, leave: int = 0) -> None:
    """Fill the file system up to ``leave`` bytes free."""
    free = shutil.disk_usage(mount).free - leave
    with open(mount / "filler", "wb") as handle:
        while free > 0:
            block = min(free, 8 * MB)
            handle.write(b"\0" * block)
            free -= block


def test_a_real_full_disk_index_search_collections(tmpfs: Path, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for i, text in enumerate(["Honeybees cluster in winter.", "Wildbienen nisten im Boden.", "Le thé vert."]):
        (docs / f"doc{i}.txt").write_text(text, encoding="utf-8")
    data, cache = tmpfs / "data", tmp_path / "cache"
    fill(tmpfs, leave=1 * MB)  # as good as full: the unpatched store died of SIGBUS here
    result = cli(data, cache, "index", str(docs))
    assert result.returncode == 2, (result.returncode, result.stderr[-500:])
    assert lines(result.stderr) == [lines(result.stderr)[0]] and lines(result.stderr)[0].startswith(
        f"error: the disk holding {data / 'qdrant'} is full"
    )
    (tmpfs / "filler").unlink()
    assert cli(data, cache, "index", str(docs)).returncode == 0
    fill(tmpfs)  # now full to the last byte
    found = cli(data, cache, "search", "Honeybees winter", "--json")
    assert found.returncode == 0, found.stderr[-500:]
    assert '"doc0.txt"' in found.stdout
    listed = cli(data, cache, "collections")
    assert listed.returncode == 0 and "docs-fake-hash-64" in listed.stdout, listed.stderr[-500:]
    unchanged = cli(data, cache, "index", str(docs))  # nothing to write: reads the copy, reports, exit 0
    assert unchanged.returncode == 0 and "3 unchanged" in unchanged.stdout, unchanged.stderr[-500:]
    (docs / "doc0.txt").write_text("Honeybees cluster in winter, edited.", encoding="utf-8")
    edited = cli(data, cache, "index", str(docs))  # a write: refused in one line, nothing lost
    errors = [line for line in lines(edited.stderr) if line.startswith("error:")]
    assert edited.returncode == 2 and errors == [f"{errors[0]}"] and "is full" in errors[0], edited.stderr[
        -500:
    ]
    found = cli(data, cache, "search", "Honeybees winter", "--json")
    assert found.returncode == 0 and '"doc0.txt"' in found.stdout


def test_a_full_cache_folder_turns_the_embedding_cache_off(tmpfs: Path, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("Honeybees cluster in winter.", encoding="utf-8")
    fill(tmpfs)
    result = cli(tmp_path / "data", tmpfs / "cache", "index", str(docs))
    assert result.returncode == 0, result.stderr[-800:]
    notes = [line for line in lines(result.stderr) if "embedding cache" in line]
    assert len(notes) == 1 and "continuing without it" in notes[0] and "a bug" not in result.stderr


def test_a_disk_that_fills_while_the_server_runs_is_noticed_before_a_collection_is_opened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with EdgeStore(tmp_path / "q") as store:
        for name in ("a", "b"):
            store.create_collection(name, CollectionMeta.for_model(fake_spec()))
            store.upsert(name, [point(i) for i in range(5)])
    free = {"bytes": 10_000 * MB}
    monkeypatch.setattr(
        edge,
        "free_bytes",
        lambda folder: free["bytes"] if Path(folder).is_relative_to(tmp_path) else 10_000 * MB,
    )
    store = EdgeStore(tmp_path / "q")
    try:
        assert store.count("a") == 5 and store._snapshot is None  # opened in place
        free["bytes"] = 0  # another program fills the disk
        assert store.count("b") == 5 and store._snapshot is not None  # opened from a copy, no SIGBUS
        with pytest.raises(DiskFullError):
            store.upsert("a", [point(9)])
    finally:
        store.close()
