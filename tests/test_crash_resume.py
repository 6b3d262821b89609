"""kill -9 in the middle of indexing, then resume: nothing lost, nothing duplicated, nothing stale.

An indexer child process (slowed FakeEmbedder, embedded store) is killed with
SIGKILL, from outside once some chunks are written, or from inside at the worst
moment (right after a write of a file's new version, before its old version is
deleted). A new process then runs the same index again. The result must equal a
clean index of the same folder: the same chunk ids, each once, one version per
file, and no chunks of files that are gone.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from indexer.pipeline import IndexConfig, index_folder
from search.core.reports import IndexReport
from search.space.vector_space import VectorSpace
from search.stores.base import VectorStore
from search.stores.client import ClientStore
from search.stores.edge import LOCK_FILE, EdgeStore
from tests.bad_inputs import _pdf_pages, good_paragraphs
from tests.fakes import FakeEmbedder

pytestmark = pytest.mark.usefixtures("no_network")

REPO = Path(__file__).resolve().parents[1]
NAME = "docs"
CONFIG = IndexConfig(chunk_tokens=64, overlap_tokens=8, batch_size=4)
LANGUAGES = ("en", "de", "fr", "es")

CHILD = textwrap.dedent(
    """
    import json, os, signal, sys, time
    from pathlib import Path
    from indexer.pipeline import IndexConfig, index_folder
    from search.space.vector_space import VectorSpace
    from search.stores.edge import EdgeStore
    from tests.fakes import FakeEmbedder

    root, data, kill_after_upserts, delay = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])

    class SlowEmbedder(FakeEmbedder):
        def encode_documents(self, texts):
            time.sleep(delay)
            return super().encode_documents(texts)

    store = EdgeStore(data)
    if kill_after_upserts:
        real_upsert, calls = store.upsert, [0]
        def upsert(name, points):
            real_upsert(name, points)
            calls[0] += 1
            if calls[0] == kill_after_upserts:
                os.kill(os.getpid(), signal.SIGKILL)  # written, not yet retired: the worst moment
        store.upsert = upsert

    def progress(event):
        print("progress", event.files_done, event.chunks_written, flush=True)

    config = IndexConfig(chunk_tokens=64, overlap_tokens=8, batch_size=4)
    report = index_folder(root, VectorSpace(SlowEmbedder()), store, "docs", config=config, progress=progress)
    store.close()
    print("done", json.dumps(report.to_json()), flush=True)
    """
)


def make_pdfs(folder: Path, files: int, version: int = 0) -> None:
    """Multi-page PDFs, several chunks each, so a kill lands inside a file's chunks."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(files):
        language = LANGUAGES[i % len(LANGUAGES)]
        pages = [good_paragraphs(language, i + version + page)[:3] for page in range(4)]
        (folder / f"{language}-{i:02d}.pdf").write_bytes(_pdf_pages(pages))


def child(root: Path, data: Path, kill_after_upserts: int = 0, delay: float = 0.0) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, str(root), str(data), str(kill_after_upserts), str(delay)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def kill_when_written(proc: subprocess.Popen[str], chunks: int) -> int:
    """SIGKILL ``proc`` once it reports at least ``chunks`` written; returns the count it reported."""
    assert proc.stdout is not None
    written = 0
    try:
        for line in proc.stdout:
            parts = line.split()
            if parts and parts[0] == "progress":
                written = int(parts[2])
                if written >= chunks:
                    break
            elif parts and parts[0] == "done":
                pytest.fail("the indexer finished before it could be killed; slow it down more")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read() if proc.stderr else ""
    return written


def finish(proc: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, err[-3000:]
    done = [line for line in out.splitlines() if line.startswith("done ")]
    assert done, out[-2000:]
    return json.loads(done[-1][5:])  # type: ignore[no-any-return]


def reference(root: Path) -> dict[str, tuple[str, str, int]]:
    """A clean index of the folder as it is now: id -> (source, doc_hash, position)."""
    store = ClientStore(":memory:")
    try:
        index_folder(root, VectorSpace(FakeEmbedder()), store, NAME, config=CONFIG)
        return snapshot(store)
    finally:
        store.close()


def snapshot(store: VectorStore) -> dict[str, tuple[str, str, int]]:
    return {
        pid: (str(p["source"]), str(p["doc_hash"]), int(p["position"]))
        for pid, p in store.iter_payloads(NAME, ("source", "doc_hash", "position"))
    }


def versions(points: dict[str, tuple[str, str, int]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for source, doc_hash, _ in points.values():
        out.setdefault(source, set()).add(doc_hash)
    return out


def reopen_after_kill(data: Path) -> EdgeStore:
    """The dead child's pid is still in the lock file; the lock itself died with it."""
    stale = (data / LOCK_FILE).read_text().strip()
    assert stale and int(stale) != os.getpid()
    store = EdgeStore(data)
    assert (data / LOCK_FILE).read_text().strip() == str(os.getpid())
    return store


def test_kill_9_mid_index_then_resume_equals_a_clean_index(tmp_path: Path) -> None:
    root, data = tmp_path / "corpus", tmp_path / "index"
    make_pdfs(root, files=12)
    expected = reference(root)
    total = len(expected)
    assert total >= 40

    # 1. Killed from outside after about a third of the chunks.
    written = kill_when_written(child(root, data, delay=0.1), chunks=total // 3)
    with reopen_after_kill(data) as store:
        interrupted = snapshot(store)
    assert written <= len(interrupted) < total, (written, len(interrupted), total)
    assert set(interrupted) <= set(expected)  # whatever survived is correct, just incomplete

    # 2. The folder changes (edits, a deletion, an addition) and the next run is killed right after
    #    writing new versions of files whose old versions are still in the store.
    make_pdfs(root, files=4, version=7)  # rewrites the first four files
    (root / "es-11.pdf").unlink()
    make_pdfs(tmp_path / "extra", files=13)
    os.replace(tmp_path / "extra" / "en-12.pdf", root / "en-12.pdf")
    proc = child(root, data, kill_after_upserts=1)  # de-01.pdf, edited, comes first
    proc.wait(timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read() if proc.stderr else ""
    with reopen_after_kill(data) as store:
        torn = snapshot(store)
    assert any(len(hashes) > 1 for hashes in versions(torn).values()), "no file was caught between versions"

    # 3. Resume in a new process: the store must equal a clean index of the folder as it is now.
    report = finish(child(root, data))
    expected = reference(root)
    with EdgeStore(data) as store:
        resumed = snapshot(store)
        assert store.count(NAME) == len(resumed)
    assert set(resumed) == set(expected), "chunk ids differ from a clean index"
    assert resumed == expected
    positions = [(source, position) for source, _, position in resumed.values()]
    assert len(positions) == len(set(positions)), "a chunk position is stored twice"
    assert all(len(hashes) == 1 for hashes in versions(resumed).values())
    assert {Path(s).name for s in versions(resumed)} == {p.name for p in root.iterdir()}
    assert report["skipped"] == [] and "es-11.pdf" not in report["indexed"]  # removed by the killed run

    # 4. And one more run has nothing left to do.
    again = finish(child(root, data))
    assert (
        again["chunks_written"] == 0
        and again["indexed"] == []
        and again["unchanged"] == len(versions(resumed))
    )
    print(
        f"kill -9: {len(interrupted)} of {total} chunks survived the first kill; after edits and a second "
        f"kill mid-file, the resumed store equals a clean index ({len(resumed)} chunks, none duplicated); "
        f"the next run wrote {again['chunks_written']}"
    )


def test_cancel_then_resume_in_process(tmp_path: Path) -> None:
    """A cancelled run (the UI's stop button) leaves the same resumable state as a crash."""
    import threading

    root = tmp_path / "corpus"
    make_pdfs(root, files=6)
    expected = reference(root)
    cancel = threading.Event()

    def stop_after_two(event: object) -> None:
        if getattr(event, "files_done", 0) >= 2:
            cancel.set()

    with EdgeStore(tmp_path / "index") as store:
        first: IndexReport = index_folder(
            root,
            VectorSpace(FakeEmbedder()),
            store,
            NAME,
            config=CONFIG,
            progress=stop_after_two,
            cancel=cancel,
        )
        assert first.cancelled and 0 < store.count(NAME) < len(expected)
        stored = snapshot(store)
        for name in first.indexed:  # a file reported indexed has all its chunks stored
            assert {p for p, v in stored.items() if Path(v[0]).name == name} == {
                p for p, v in expected.items() if Path(v[0]).name == name
            }, name
        assert 0 < len(first.indexed) < 6
        second = index_folder(root, VectorSpace(FakeEmbedder()), store, NAME, config=CONFIG)
        assert not second.cancelled
        assert snapshot(store) == expected
