"""kill -9 during the final optimize: the next run finishes the index, and no optimizer is orphaned
(issue 16, item 3).

An indexer child process (fake model, embedded store with a low HNSW threshold so
the graph build is quick) is killed with SIGKILL as soon as its optimizer child
starts. The optimizer must die with it; the next run of the same index must find
every file unchanged and still build the graph, so that as many vectors are
indexed as in a clean build of the same folder.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from indexer.pipeline import IndexConfig, index_folder
from search.space.vector_space import VectorSpace
from search.stores.edge import PENDING_FILE, EdgeStore, EdgeTuning
from tests.fakes import FakeEmbedder

pytestmark = pytest.mark.usefixtures("no_network")

REPO = Path(__file__).resolve().parents[1]
NAME = "docs"
FILES = 24
# 64-d fake vectors are 256 bytes: a graph is built once a segment holds more than ~250 of them.
TUNING = EdgeTuning(indexing_threshold_kb=64, full_scan_threshold_kb=16)
CONFIG = IndexConfig(chunk_tokens=64, overlap_tokens=8)

INDEXER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from indexer.pipeline import IndexConfig, index_folder
    from search.space.vector_space import VectorSpace
    from search.stores.edge import EdgeStore, EdgeTuning
    from tests.fakes import FakeEmbedder

    store = EdgeStore(Path(sys.argv[2]), EdgeTuning(indexing_threshold_kb=64, full_scan_threshold_kb=16))
    index_folder(Path(sys.argv[1]), VectorSpace(FakeEmbedder()), store, "docs", config=IndexConfig(chunk_tokens=64, overlap_tokens=8))
    store.close()
    print("finished", flush=True)
    """
)


def corpus(folder: Path) -> Path:
    folder.mkdir()
    for i in range(FILES):
        words = " ".join(f"w{i}x{j}" for j in range(40))
        text = "\n\n".join(f"Paragraph {k} of file {i}: {words}." for k in range(15))
        (folder / f"f{i:02d}.txt").write_text(text, encoding="utf-8")
    return folder


def optimizer_of(parent: psutil.Process, timeout: float = 120) -> psutil.Process:
    """The optimize child of ``parent``, once it has been started."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for child in parent.children():
            try:
                if "PR_SET_PDEATHSIG" in " ".join(child.cmdline()):
                    return child
            except psutil.NoSuchProcess:
                continue
        if not parent.is_running() or parent.status() == psutil.STATUS_ZOMBIE:
            break
        time.sleep(0.005)
    pytest.fail("the indexer never started its optimizer child")


def gone(process: psutil.Process, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if process.status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


def test_kill_9_during_optimize_is_repaired_by_the_next_run(tmp_path: Path) -> None:
    root = corpus(tmp_path / "docs")
    with EdgeStore(tmp_path / "clean", tuning=TUNING) as clean:
        index_folder(root, VectorSpace(FakeEmbedder()), clean, NAME, config=CONFIG)
        points, built = clean.count(NAME), clean.indexed_vectors(NAME)
    assert built > 0, "the test corpus is too small to build a graph"

    data = tmp_path / "killed"
    indexer = subprocess.Popen(
        [sys.executable, "-c", INDEXER, str(root), str(data)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        optimizer = optimizer_of(psutil.Process(indexer.pid))
    finally:
        indexer.send_signal(signal.SIGKILL)
        out, err = indexer.communicate(timeout=60)
    assert indexer.returncode == -signal.SIGKILL and "finished" not in out, err[-2000:]
    assert gone(optimizer), "the optimizer child outlived the indexer it worked for"
    assert (data / "collections" / NAME / PENDING_FILE).is_file()

    with EdgeStore(data, tuning=TUNING) as store:
        assert store.count(NAME) == points  # every point was written before the optimize
        before = store.indexed_vectors(NAME)
        assert before < built  # what the kill left: the graph not (fully) built
        report = index_folder(root, VectorSpace(FakeEmbedder()), store, NAME, config=CONFIG)
        assert report.unchanged == FILES and report.chunks_written == 0 and not report.indexed
        assert store.indexed_vectors(NAME) == built  # the next run finished the build
        again = index_folder(root, VectorSpace(FakeEmbedder()), store, NAME, config=CONFIG)
        assert again.unchanged == FILES
    assert not (data / "collections" / NAME / PENDING_FILE).exists()
    print(
        f"points {points}: indexed vectors clean {built}, after kill -9 {before}, after the next run {built}"
    )


def test_an_unchanged_run_does_not_rebuild_a_complete_index(tmp_path: Path) -> None:
    """Every run ends with optimize(); with nothing written since the last one it costs nothing."""
    root = corpus(tmp_path / "docs")
    with EdgeStore(tmp_path / "index", tuning=TUNING) as store:
        index_folder(root, VectorSpace(FakeEmbedder()), store, NAME, config=CONFIG)
        folder = tmp_path / "index" / "collections" / NAME
        live = os.readlink(folder / "shard")
    with EdgeStore(tmp_path / "index", tuning=TUNING) as store:  # a new process: state from disk
        index_folder(root, VectorSpace(FakeEmbedder()), store, NAME, config=CONFIG)
        assert os.readlink(folder / "shard") == live  # no copy was optimized and swapped in
