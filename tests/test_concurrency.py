"""Searching while indexing in one process, and two processes on one embedded store.

In one process the UI and an index run share one Services (one store handle):
searches must keep answering, with bounded latency, while chunks are written.
A second process opening the same embedded store must get StoreLockedError at
once, with a message that says who holds it and what to do; the holder's run
must finish undisturbed.
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from indexer.pipeline import IndexConfig
from indexer.service import FolderIndexer
from search.application.indexing import index_with_services
from search.application.search_app import SearchApp
from search.application.services import Services
from search.core.errors import StoreLockedError
from search.core.reports import IndexReport
from search.core.settings import IndexOptions, Settings
from search.models.registry import ModelRegistry
from search.models.specs import ModelSpec
from search.stores.base import VectorStore
from search.stores.client import ClientStore
from search.stores.edge import EdgeStore
from tests.bad_inputs import good_paragraphs
from tests.fakes import FakeEmbedder, fake_spec
from tests.test_crash_resume import make_pdfs

pytestmark = pytest.mark.usefixtures("no_network")

REPO = Path(__file__).resolve().parents[1]
NAME = "docs"
CONFIG = IndexConfig(chunk_tokens=64, overlap_tokens=8, batch_size=4)
OPTIONS = IndexOptions(chunk_tokens=64, overlap_tokens=8, batch_size=4)
MAX_SEARCH_SECONDS = 5.0  # generous for a loaded 2-core machine; typical is a few ms


class SlowEmbedder(FakeEmbedder):
    """Document batches take a while, like a real model (sleeping releases the GIL, as torch does)."""

    def __init__(self, spec: ModelSpec, delay: float) -> None:
        super().__init__(spec)
        self.delay = delay

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        time.sleep(self.delay)
        return super().encode_documents(texts)


@pytest.fixture(params=["edge", "client"])
def services(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Services]:
    spec = fake_spec()
    store: VectorStore = EdgeStore(tmp_path / "index") if request.param == "edge" else ClientStore(":memory:")
    built = Services(
        Settings(data_dir=tmp_path, cache_dir=tmp_path / "cache", default_model=spec.name),
        store,
        registry=ModelRegistry((spec,)),
        embedder_factory=lambda s: SlowEmbedder(s, delay=0.03),
        indexer_factory=FolderIndexer,
    )
    yield built
    built.close()


def test_searches_keep_answering_while_an_index_run_writes(services: Services, tmp_path: Path) -> None:
    first = tmp_path / "first"
    first.mkdir()
    (first / "bees.txt").write_text("\n\n".join(good_paragraphs("en", 0)), encoding="utf-8")
    index_with_services(services, first, collection=NAME, options=OPTIONS)
    searcher = SearchApp(services).searcher(NAME)
    bulk = tmp_path / "bulk"
    make_pdfs(bulk, files=16)

    outcome: dict[str, object] = {}

    def index() -> None:
        try:
            outcome["report"] = index_with_services(services, bulk, collection=NAME, options=OPTIONS)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test thread
            outcome["error"] = exc

    thread = threading.Thread(target=index, name="index-run")
    latencies: list[float] = []
    counts: set[int] = set()
    thread.start()
    while thread.is_alive():
        t0 = time.perf_counter()
        result = searcher.search("Wildbienen Bestäubung Garten", k=5)
        latencies.append(time.perf_counter() - t0)
        assert result.hits, "a search during indexing returned nothing"
        counts.add(services.store.count(NAME))
        time.sleep(0.005)
    thread.join()
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    report = outcome["report"]
    assert isinstance(report, IndexReport) and len(report.indexed) == 16 and not report.skipped

    assert len(latencies) >= 20, f"only {len(latencies)} searches answered during the run"
    assert len(counts) >= 3, "searches did not overlap the writes"
    assert max(latencies) < MAX_SEARCH_SECONDS, f"slowest search {max(latencies):.2f} s"
    final = searcher.search(good_paragraphs("de", 1)[0], k=1)
    assert final.hits[0].relpath.startswith("de-")
    print(
        f"{len(latencies)} searches during indexing: p50 {statistics.median(latencies) * 1000:.1f} ms, "
        f"max {max(latencies) * 1000:.1f} ms"
    )


HOLDER = """
import json, os, sys, time
from pathlib import Path
from indexer.pipeline import IndexConfig, index_folder
from search.space.vector_space import VectorSpace
from search.stores.edge import EdgeStore
from tests.fakes import FakeEmbedder

root, data, gate = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])

class GatedEmbedder(FakeEmbedder):
    def encode_documents(self, texts):
        if self.calls:  # after the first batch: hold the store, mid-run, until the test lets go
            deadline = time.monotonic() + 300
            while not gate.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
        return super().encode_documents(texts)

def progress(event):
    print("progress", event.files_done, event.chunks_written, flush=True)

with EdgeStore(data) as store:
    config = IndexConfig(chunk_tokens=64, overlap_tokens=8, batch_size=4)
    report = index_folder(root, VectorSpace(GatedEmbedder()), store, "docs", config=config, progress=progress)
print("done", json.dumps(report.to_json()), flush=True)
"""


def _app(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(REPO / "app.py"), *args],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_second_process_gets_a_clear_error_while_an_index_run_holds_the_store(tmp_path: Path) -> None:
    root, data = tmp_path / "corpus", tmp_path / "data"
    make_pdfs(root, files=12)
    gate = tmp_path / "release"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(root), str(data / "qdrant"), str(gate)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().startswith("progress"), holder.stderr.read() if holder.stderr else ""

        # Another app process indexing the same folder: refused at once, saying who holds the store
        # and what to do (every command opens the store first, the same way).
        t0 = time.perf_counter()
        done = _app("--data-dir", str(data), "index", str(root))
        assert done.returncode == 2, (done.stdout, done.stderr)
        message = done.stderr.lower()
        assert f"another process (pid {holder.pid}) is using the index" in message, done.stderr
        assert "--data-dir" in message and "traceback" not in message
        assert time.perf_counter() - t0 < 60, "the second process hung instead of failing"

        # This process too (a library user).
        with pytest.raises(StoreLockedError, match=f"pid {holder.pid}"):
            EdgeStore(data / "qdrant")

        gate.touch()
        _, err = holder.communicate(timeout=180)
        assert holder.returncode == 0, err[-3000:]
    finally:
        if holder.poll() is None:
            holder.send_signal(signal.SIGKILL)
            holder.wait()

    # The holder's run was undisturbed: a re-run finds every file complete.
    with EdgeStore(data / "qdrant") as store:
        from indexer.pipeline import index_folder
        from search.space.vector_space import VectorSpace

        again = index_folder(root, VectorSpace(FakeEmbedder()), store, NAME, config=CONFIG)
        assert again.chunks_written == 0 and again.unchanged == 12


def test_an_index_folder_that_cannot_be_created_or_locked_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Not a traceback: works as root too, since nothing can create a folder below a file."""
    import app
    from search.core.errors import StoreError

    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the data folder should be")
    with pytest.raises(StoreError, match="--data-dir"):
        EdgeStore(blocker / "qdrant")
    assert app.main(["--data-dir", str(blocker), "collections"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: Cannot create the index folder") and "Traceback" not in err

    data = tmp_path / "data"
    (data / ".lock").mkdir(parents=True)  # a lock "file" that cannot be opened as one
    with pytest.raises(StoreError, match="lock file"):
        EdgeStore(data)
