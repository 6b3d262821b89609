"""The producer thread (extraction, chunking, BM25) yields the CPU to the model: a raised nice value."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from indexer.pipeline import IndexConfig, index_documents
from search.core.types import Document, Section
from search.space.vector_space import VectorSpace
from search.stores.edge import EdgeStore
from tests.fakes import FakeEmbedder, fake_spec

pytestmark = [
    pytest.mark.usefixtures("no_network"),
    pytest.mark.skipif(not hasattr(os, "setpriority"), reason="no per-thread priorities here"),
]


class PriorityRecorder(FakeEmbedder):
    """Notes the nice value of every thread that counts tokens (the producer) or embeds (the model)."""

    def __init__(self) -> None:
        super().__init__(fake_spec(max_tokens=64))
        self.nice: dict[str, set[int]] = {}

    def _note(self) -> None:
        me = threading.current_thread().name
        self.nice.setdefault(me, set()).add(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        self._note()
        return super().count_tokens(texts)

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        self._note()
        return super().encode_documents(texts)


@pytest.mark.parametrize("nice", [0, 5])
def test_producer_runs_niced_and_the_model_does_not(tmp_path: Path, nice: int) -> None:
    own = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    embedder = PriorityRecorder()
    docs = [
        Document(f"/d/{i}.txt", "/d", f"h{i}", "txt", (Section("the cat sat on the mat " * 5),))
        for i in range(3)
    ]
    store = EdgeStore(tmp_path / "store")
    try:
        index_documents(
            docs, VectorSpace(embedder), store, "c", config=IndexConfig(batch_size=2, producer_nice=nice)
        )
    finally:
        store.close()
    assert embedder.nice["index-extract"] == {min(19, own + nice)}
    model_threads = {name: values for name, values in embedder.nice.items() if name != "index-extract"}
    assert model_threads and all(values == {own} for values in model_threads.values())
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == own
