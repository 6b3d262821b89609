"""How index_folder feeds the model: batches of similar length cut from a full pool of chunks.

benchmarks/index_throughput.py measures the effect on the real model (padding is
what a forward pass pays for); this pins the mechanism with a FakeEmbedder, whose
tokens are words.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from indexer import pipeline
from indexer.pipeline import IndexConfig, index_folder
from search.space.vector_space import VectorSpace
from search.stores.edge import EdgeStore
from tests.fakes import FakeEmbedder, fake_spec

pytestmark = pytest.mark.usefixtures("no_network")

BATCH = 8
FILES = 60


class RecordingEmbedder(FakeEmbedder):
    """Remembers the token (word) counts of every batch it embeds."""

    def __init__(self) -> None:
        super().__init__(fake_spec(max_tokens=128))
        self.batches: list[list[int]] = []

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        self.batches.append(self.count_tokens(texts))
        return super().encode_documents(texts)


def padding(batches: Sequence[Sequence[int]]) -> float:
    """Share of the embedded tokens that is padding, each batch padded to its longest text."""
    padded = sum(len(b) * max(b) for b in batches)
    return 1 - sum(map(sum, batches)) / padded


def test_batches_are_cut_from_a_full_pool_of_similar_lengths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pipeline, "PRODUCER_GRACE_S", 30.0)  # a loaded machine must not change the batches
    rng = random.Random(0)
    folder = tmp_path / "docs"
    folder.mkdir()
    texts = []
    for i in range(FILES):  # one chunk per file, 3 to 50 words, lengths in random order
        words = " ".join(f"w{rng.randrange(1000)}" for _ in range(rng.randint(3, 50)))
        texts.append(f"Paragraph {i}: {words}.")
        (folder / f"f{i:03d}.txt").write_text(texts[-1], encoding="utf-8")
    embedder = RecordingEmbedder()
    store = EdgeStore(tmp_path / "index")
    try:
        config = IndexConfig(chunk_tokens=64, overlap_tokens=0, batch_size=BATCH, sort_batches=8)
        report = index_folder(folder, VectorSpace(embedder), store, "docs", config=config)
    finally:
        store.close()

    assert report.chunks_written == FILES
    embedded = sorted(n for batch in embedder.batches for n in batch)
    assert embedded == sorted(embedder.count_tokens(texts))  # every chunk exactly once
    assert all(len(batch) == BATCH for batch in embedder.batches[:-1])
    arrival = [embedder.count_tokens(texts[i : i + BATCH]) for i in range(0, FILES, BATCH)]
    assert padding(embedder.batches) < padding(arrival) / 3, (padding(embedder.batches), padding(arrival))
