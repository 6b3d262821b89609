"""The embedded store's search index: an int8 scan rescored with the originals, no graph (issue 22).

A graph walk lost whole languages on clustered collections (benchmarks/ann_recall.py); the
quantized scan must answer what an exact scan answers, under a filter too, and two builds from
the same vectors must answer alike (two graph builds did not).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from search.stores.base import SearchFilter
from search.stores.common import OVERSAMPLING
from search.stores.edge import EdgeStore, EdgeTuning
from tests.store_search import search_dense
from tests.test_store_conformance import META, NAME, make_chunk, make_point

DIM = 16
LANGUAGES = ("en", "de", "ja", "fr")
# Small enough that a few thousand 16-d points get the index the defaults give large collections.
TUNING = EdgeTuning(indexing_threshold_kb=64, full_scan_threshold_kb=16)


def clustered(n: int, queries: int, seed: int = 0) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Language directions plus topics plus noise: the shape that stranded the graph walk."""
    rng = np.random.default_rng(seed)
    directions = rng.standard_normal((len(LANGUAGES), DIM))
    topics = rng.standard_normal((n // 40, DIM))
    language = rng.integers(0, len(LANGUAGES), n)
    points = (
        0.8 * directions[language]
        + topics[rng.integers(0, len(topics), n)]
        + 0.5 * rng.standard_normal((n, DIM))
    )
    asked = (
        0.8 * directions[rng.integers(0, len(LANGUAGES), queries)]
        + topics[rng.integers(0, len(topics), queries)]
    )
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    asked /= np.linalg.norm(asked, axis=1, keepdims=True)
    return points.astype(np.float32), [LANGUAGES[i] for i in language], asked.astype(np.float32)


def build(folder: Path, vectors: np.ndarray, languages: list[str]) -> tuple[EdgeStore, list[str]]:
    store = EdgeStore(folder, TUNING)
    store.create_collection(NAME, META)
    chunks = [make_chunk(str(i), language=lang) for i, lang in enumerate(languages)]
    store.upsert(NAME, [make_point(c, v) for c, v in zip(chunks, vectors)])
    store.optimize(NAME)
    return store, [c.id for c in chunks]


def test_the_default_index_is_a_rescored_int8_scan() -> None:
    tuning = EdgeTuning()
    assert tuning.hnsw_m == 0 and tuning.quantization == "int8"
    params = tuning.search_params(filtered=True)
    assert params is not None and params.quantization is not None
    assert params.quantization.rescore and params.quantization.oversampling == OVERSAMPLING
    assert params.acorn is None  # no graph to walk
    unfiltered = tuning.search_params(filtered=False)
    assert unfiltered is not None and unfiltered.quantization is not None and unfiltered.acorn is None
    exact = EdgeTuning(exact=True).search_params(filtered=False)
    assert exact is not None and exact.exact and exact.quantization is not None and exact.quantization.ignore
    assert "no graph" in tuning.label and "int8" in tuning.label
    with pytest.raises(ValueError, match="int4"):
        EdgeTuning(quantization="int4").quantization_config()


def test_the_quantized_scan_answers_what_an_exact_scan_answers(tmp_path: Path) -> None:
    vectors, languages, queries = clustered(4000, 40)
    store, ids = build(tmp_path / "index", vectors, languages)
    try:
        assert store.indexed_vectors(NAME) == len(vectors), "optimize() should have indexed every point"
        for flt in (None, SearchFilter(languages=("de",))):
            keep = np.array([flt is None or lang == "de" for lang in languages])
            for query in queries:
                scores = np.where(keep, vectors @ query, -np.inf)
                truth = {ids[i] for i in np.argsort(-scores)[:10]}
                found = search_dense(store, NAME, query, k=10, flt=flt)
                assert {hit.id for hit in found} == truth
                assert found[0].score == pytest.approx(
                    float(scores.max()), abs=1e-5
                )  # rescored: float scores
    finally:
        store.close()


def test_two_builds_from_the_same_vectors_answer_alike(tmp_path: Path) -> None:
    vectors, languages, queries = clustered(3000, 30, seed=1)
    answers = []
    for i in range(2):
        store, _ = build(tmp_path / f"index-{i}", vectors, languages)
        try:
            answers.append(
                [[(hit.id, hit.score) for hit in search_dense(store, NAME, q, k=10)] for q in queries]
            )
        finally:
            store.close()
    assert answers[0] == answers[1]
