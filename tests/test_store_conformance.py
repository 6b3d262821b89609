"""One VectorStore conformance suite, run against every backend (edge in tmp_path, client :memory:).

Vectors are basis vectors or seeded random ones, so every expected ranking and
score is known in advance. Edge-only tests at the end cover what only an embedded
store has to guarantee: persistence, crash recovery and the process lock.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from search.core.errors import (
    CollectionNotFoundError,
    InvalidCollectionNameError,
    ModelMismatchError,
    StoreError,
    StoreLockedError,
)
from search.core.types import Chunk, SparseVector
from search.stores.base import (
    CollectionMeta,
    Point,
    ScoredPoint,
    SearchFilter,
    StoreQuery,
    VectorStore,
    search_one,
)
from search.stores.client import ClientStore
from search.stores.edge import EdgeStore, EdgeTuning
from search.stores.payload import decode_hit, encode_chunk
from tests.fakes import fake_spec
from tests.store_search import search_dense, search_hybrid, search_sparse

REPO = Path(__file__).resolve().parents[1]
DIM = 16
NAME = "docs"
# Thresholds this low make optimize() build HNSW for a few thousand small test vectors.
TEST_TUNING = EdgeTuning(indexing_threshold_kb=64, full_scan_threshold_kb=16)
META = CollectionMeta.for_model(fake_spec(dimension=DIM), sparse_encoder="test-terms-1")


# ---- fixtures and builders ------------------------------------------------------------------------


@pytest.fixture(params=["edge", "client"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[VectorStore]:
    backend: VectorStore
    if request.param == "edge":
        backend = EdgeStore(tmp_path / "index", tuning=TEST_TUNING)
    else:
        backend = ClientStore(":memory:")
    yield backend
    backend.close()


@pytest.fixture
def docs(store: VectorStore) -> VectorStore:
    store.create_collection(NAME, META)
    return store


def basis(i: int, dim: int = DIM) -> np.ndarray:
    vector = np.zeros(dim, dtype=np.float32)
    vector[i % dim] = 1.0
    return vector


def unit(vector: Sequence[float] | np.ndarray) -> np.ndarray:
    array = np.asarray(vector, dtype=np.float32)
    return array / np.linalg.norm(array)


def random_unit(n: int, dim: int = DIM, seed: int = 0) -> np.ndarray:
    rows = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def make_chunk(
    key: str,
    *,
    source: str = "/data/a.txt",
    root: str = "/data",
    language: str = "en",
    doc_hash: str = "h1",
    text: str | None = None,
    page: int | None = None,
    position: int = 0,
) -> Chunk:
    chunk_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{source}#{key}"))
    return Chunk(
        id=chunk_id,
        source=source,
        root=root,
        position=position,
        text=text if text is not None else f"chunk {key}",
        page=page,
        language=language,
        doc_language=language,
        doc_hash=doc_hash,
        n_chunks=1,
        heading="",
        format="txt",
    )


def make_point(chunk: Chunk, vector: np.ndarray, sparse: SparseVector | None = None) -> Point:
    return Point(id=chunk.id, vector=vector, payload=encode_chunk(chunk), sparse=sparse)


def ids(points: Sequence[ScoredPoint]) -> list[str]:
    return [p.id for p in points]


# ---- collections ----------------------------------------------------------------------------------


def test_create_get_list_drop(store: VectorStore) -> None:
    assert store.get_meta(NAME) is None
    assert store.list_collections() == []
    store.create_collection(NAME, META)
    store.create_collection("other", META)
    assert store.get_meta(NAME) == META
    assert store.list_collections() == [NAME, "other"]
    store.drop_collection(NAME)
    assert store.get_meta(NAME) is None
    assert store.list_collections() == ["other"]
    store.drop_collection(NAME)  # dropping what is gone is not an error


def test_create_with_same_meta_is_a_no_op(docs: VectorStore) -> None:
    docs.upsert(NAME, [make_point(make_chunk("a"), basis(0))])
    docs.create_collection(NAME, META)
    assert docs.count(NAME) == 1


def test_create_ignores_informational_meta_fields(docs: VectorStore) -> None:
    moved = dataclasses.replace(META, model_source="/elsewhere/same-weights", extra={"chunk_tokens": "256"})
    docs.create_collection(NAME, moved)  # same model, loaded from another folder: still compatible
    assert docs.get_meta(NAME) == META


def test_create_with_another_model_says_what_to_do(docs: VectorStore) -> None:
    other = CollectionMeta.for_model(fake_spec(name="other-model", dimension=32))
    with pytest.raises(ModelMismatchError) as err:
        docs.create_collection(NAME, other)
    message = str(err.value)
    assert "fake-hash-64" in message and "other-model" in message
    assert "--collection" in message and "--model" in message
    assert docs.get_meta(NAME) == META


def test_create_with_another_sparse_encoder_is_a_mismatch(docs: VectorStore) -> None:
    with pytest.raises(ModelMismatchError, match="sparse_encoder"):
        docs.create_collection(
            NAME, CollectionMeta.for_model(fake_spec(dimension=DIM), sparse_encoder="other")
        )


@pytest.mark.parametrize("bad", ["", "../escape", "a/b", ".hidden", "_mlsearch_meta", "x" * 64, "sp ace"])
def test_unsafe_collection_names_are_refused(store: VectorStore, bad: str) -> None:
    with pytest.raises(InvalidCollectionNameError, match="collection name"):
        store.create_collection(bad, META)


def test_missing_collection_raises_not_found(store: VectorStore) -> None:
    with pytest.raises(CollectionNotFoundError, match="nope"):
        store.count("nope")
    with pytest.raises(CollectionNotFoundError):
        search_dense(store, "nope", basis(0), 3)


# ---- writes ---------------------------------------------------------------------------------------


def test_upsert_same_ids_twice_keeps_count(docs: VectorStore) -> None:
    points = [make_point(make_chunk(str(i)), basis(i)) for i in range(5)]
    docs.upsert(NAME, points)
    docs.upsert(NAME, points)
    assert docs.count(NAME) == 5


def test_upsert_with_wrong_dimension_names_the_model(docs: VectorStore) -> None:
    with pytest.raises(ModelMismatchError, match="fake-hash-64"):
        docs.upsert(NAME, [make_point(make_chunk("a"), basis(0, dim=DIM * 2))])


def test_delete_ids(docs: VectorStore) -> None:
    points = [make_point(make_chunk(str(i)), basis(i)) for i in range(4)]
    docs.upsert(NAME, points)
    docs.delete_ids(NAME, [points[0].id, points[2].id])
    assert sorted(i for i, _ in docs.iter_payloads(NAME, [])) == sorted([points[1].id, points[3].id])


def test_delete_sources(docs: VectorStore) -> None:
    docs.upsert(
        NAME,
        [make_point(make_chunk(str(i), source=f"/data/{i % 3}.txt"), basis(i)) for i in range(9)],
    )
    docs.delete_sources(NAME, ["/data/0.txt", "/data/2.txt"])
    assert docs.count(NAME) == 3
    assert {p["source"] for _, p in docs.iter_payloads(NAME, ["source"])} == {"/data/1.txt"}


def test_delete_stale_removes_only_other_versions_of_that_source(docs: VectorStore) -> None:
    docs.upsert(
        NAME,
        [
            make_point(make_chunk("old", source="/data/a.txt", doc_hash="v1"), basis(0)),
            make_point(make_chunk("new", source="/data/a.txt", doc_hash="v2"), basis(1)),
            make_point(make_chunk("other", source="/data/b.txt", doc_hash="v1"), basis(2)),
        ],
    )
    docs.delete_stale(NAME, "/data/a.txt", keep_hash="v2")
    left = {(p["source"], p["doc_hash"]) for _, p in docs.iter_payloads(NAME, ["source", "doc_hash"])}
    assert left == {("/data/a.txt", "v2"), ("/data/b.txt", "v1")}


# ---- reads ----------------------------------------------------------------------------------------


def test_iter_payloads_returns_every_point_with_the_requested_fields(docs: VectorStore) -> None:
    n = 1100  # more than one scroll page
    vectors = random_unit(n)
    points = [make_point(make_chunk(str(i), doc_hash=f"h{i}"), vectors[i]) for i in range(n)]
    docs.upsert(NAME, points)
    rows = dict(docs.iter_payloads(NAME, ["doc_hash", "n_chunks"]))
    assert len(rows) == n
    assert rows[points[7].id] == {"doc_hash": "h7", "n_chunks": 1}


def test_iter_vectors_returns_stored_vectors_with_fields_and_honours_a_filter(docs: VectorStore) -> None:
    chunks = [make_chunk(str(i), language="de" if i % 2 else "en") for i in range(5)]
    docs.upsert(NAME, [make_point(c, basis(i)) for i, c in enumerate(chunks)])
    found = {i: (payload, vector) for i, payload, vector in docs.iter_vectors(NAME, ["language"])}
    assert set(found) == {c.id for c in chunks}
    for i, chunk in enumerate(chunks):
        payload, vector = found[chunk.id]
        assert payload == {"language": chunk.language}
        np.testing.assert_allclose(vector, basis(i), atol=1e-6)
    german = {i for i, _, _ in docs.iter_vectors(NAME, [], SearchFilter(languages=("de",)))}
    assert german == {c.id for c in chunks if c.language == "de"}


def test_update_vectors_replaces_dense_vectors_sets_payload_and_keeps_the_rest(docs: VectorStore) -> None:
    chunks = [make_chunk(str(i), text=f"term{i} shared") for i in range(3)]
    sparse = SparseVector((1, 2), (1.0, 0.5))
    docs.upsert(NAME, [make_point(c, basis(i), sparse) for i, c in enumerate(chunks)])
    docs.update_vectors(NAME, [chunks[0].id, chunks[1].id], np.stack([basis(5), basis(6)]), {"mean": "m1"})
    stored = {i: (payload, vector) for i, payload, vector in docs.iter_vectors(NAME, ["mean", "text"])}
    np.testing.assert_allclose(stored[chunks[0].id][1], basis(5), atol=1e-6)
    np.testing.assert_allclose(stored[chunks[2].id][1], basis(2), atol=1e-6)
    assert stored[chunks[0].id][0] == {"mean": "m1", "text": "term0 shared"}
    assert stored[chunks[2].id][0] == {"text": "term2 shared"}
    assert ids(search_dense(docs, NAME, basis(6), 1)) == [chunks[1].id]
    assert len(search_sparse(docs, NAME, sparse, 3)) == 3  # sparse vectors untouched


def test_update_meta_records_state_but_refuses_another_model(docs: VectorStore) -> None:
    moved = dataclasses.replace(META, language_means='{"version": 1}')
    docs.update_meta(NAME, moved)
    assert docs.get_meta(NAME) == moved
    docs.create_collection(NAME, META)  # state is not part of what must match
    with pytest.raises(ModelMismatchError):
        docs.update_meta(NAME, dataclasses.replace(META, dimension=DIM + 1))
    with pytest.raises(CollectionNotFoundError):
        docs.update_meta("missing", META)


def test_count_with_and_without_filters(docs: VectorStore) -> None:
    langs = ["en", "de", "ja", "en", "de", "en"]
    docs.upsert(
        NAME,
        [
            make_point(make_chunk(str(i), language=lang, root="/r1" if i < 3 else "/r2"), basis(i))
            for i, lang in enumerate(langs)
        ],
    )
    assert docs.count(NAME) == 6
    assert docs.count(NAME, SearchFilter()) == 6
    assert docs.count(NAME, SearchFilter(languages=("en",))) == 3
    assert docs.count(NAME, SearchFilter(languages=("de", "ja"))) == 3
    assert docs.count(NAME, SearchFilter(languages=("en",), roots=("/r2",))) == 2
    assert docs.count(NAME, SearchFilter(languages=("fr",))) == 0


def test_facet_language(docs: VectorStore) -> None:
    langs = ["en", "de", "ja", "en", "de", "en", "ar"]
    docs.upsert(
        NAME, [make_point(make_chunk(str(i), language=lang), basis(i)) for i, lang in enumerate(langs)]
    )
    assert docs.facet(NAME, "language") == {"en": 3, "de": 2, "ja": 1, "ar": 1}


def test_search_dense_nearest_first_with_cosine_scores(docs: VectorStore) -> None:
    vectors = random_unit(50, seed=1)
    chunks = [make_chunk(str(i)) for i in range(50)]
    docs.upsert(NAME, [make_point(c, v) for c, v in zip(chunks, vectors)])
    query = unit(vectors[17] + 0.05 * vectors[3])
    hits = search_dense(docs, NAME, query, k=5)
    expected = np.argsort(-(vectors @ query))[:5]
    assert ids(hits) == [chunks[i].id for i in expected]
    assert [h.score for h in hits] == pytest.approx([float(vectors[i] @ query) for i in expected], abs=1e-5)
    assert hits[0].payload["text"] == "chunk 17"


def test_search_dense_honours_language_source_root_filters(docs: VectorStore) -> None:
    rows = [  # (key, language, source, root)
        ("en-a", "en", "/r1/a.txt", "/r1"),
        ("de-a", "de", "/r1/a.txt", "/r1"),
        ("en-b", "en", "/r2/b.txt", "/r2"),
        ("ja-b", "ja", "/r2/b.txt", "/r2"),
        ("de-c", "de", "/r2/c.txt", "/r2"),
    ]
    chunks = {key: make_chunk(key, language=lang, source=src, root=root) for key, lang, src, root in rows}
    # All close to the query, in the order of rows, so every filter's expected order is known.
    query = basis(0)
    docs.upsert(
        NAME,
        [make_point(c, unit(basis(0) + 0.1 * (i + 1) * basis(1))) for i, c in enumerate(chunks.values())],
    )

    def keys(flt: SearchFilter) -> list[str]:
        by_id = {c.id: key for key, c in chunks.items()}
        return [by_id[h.id] for h in search_dense(docs, NAME, query, k=10, flt=flt)]

    assert keys(SearchFilter()) == ["en-a", "de-a", "en-b", "ja-b", "de-c"]
    assert keys(SearchFilter(languages=("de",))) == ["de-a", "de-c"]
    assert keys(SearchFilter(languages=("en", "ja"))) == ["en-a", "en-b", "ja-b"]
    assert keys(SearchFilter(sources=("/r2/b.txt",))) == ["en-b", "ja-b"]
    assert keys(SearchFilter(roots=("/r1",))) == ["en-a", "de-a"]
    assert keys(SearchFilter(languages=("de",), roots=("/r2",))) == ["de-c"]
    assert keys(SearchFilter(languages=("en",), sources=("/r2/b.txt", "/r2/c.txt"), roots=("/r2",))) == [
        "en-b"
    ]
    assert keys(SearchFilter(languages=("fr",))) == []


def test_search_sparse_rare_term_outranks_common_term(docs: VectorStore) -> None:
    common, rare = 7, 4242
    chunks = [make_chunk(str(i)) for i in range(10)]
    points = [
        make_point(c, basis(i), SparseVector(indices=(common,), values=(1.0,)))
        for i, c in enumerate(chunks[:9])
    ]
    points.append(make_point(chunks[9], basis(9), SparseVector(indices=(rare,), values=(1.0,))))
    docs.upsert(NAME, points)
    hits = search_sparse(docs, NAME, SparseVector(indices=(common, rare), values=(1.0, 1.0)), k=3)
    assert hits[0].id == chunks[9].id  # same term weight, but the rare term carries the higher IDF
    assert hits[0].score > hits[1].score > 0
    assert search_sparse(docs, NAME, SparseVector(indices=(99,), values=(1.0,)), k=3) == []
    only_de = search_sparse(
        docs, NAME, SparseVector(indices=(rare,), values=(1.0,)), k=3, flt=SearchFilter(languages=("de",))
    )
    assert only_de == []


def test_search_hybrid_fuses_dense_only_and_sparse_only_finds(docs: VectorStore) -> None:
    query = basis(0)
    dense_only = make_chunk("dense-only")  # the query's nearest vector, no sparse vector at all
    sparse_only = make_chunk("sparse-only")  # far from the query, but has the query's term
    noise = [make_chunk(f"noise-{i}") for i in range(8)]
    points = [
        make_point(dense_only, query),
        make_point(sparse_only, basis(DIM - 1), SparseVector(indices=(5,), values=(2.0,))),
        *(
            make_point(c, unit(basis(0) + (i + 1) * basis(i + 1)), SparseVector(indices=(6,), values=(1.0,)))
            for i, c in enumerate(noise)
        ),
    ]
    docs.upsert(NAME, points)
    term = SparseVector(indices=(5,), values=(1.0,))
    assert sparse_only.id not in ids(search_dense(docs, NAME, query, k=2))
    assert ids(search_sparse(docs, NAME, term, k=5)) == [sparse_only.id]
    fused = search_hybrid(docs, NAME, query, term, k=2, candidates=3)
    assert set(ids(fused)) == {dense_only.id, sparse_only.id}
    filtered = search_hybrid(docs, NAME, query, term, k=5, flt=SearchFilter(languages=("de",)))
    assert filtered == []
    no_terms = search_hybrid(docs, NAME, query, SparseVector(indices=(), values=()), k=1)
    assert ids(no_terms) == [dense_only.id]


def _same_points(
    got: Sequence[ScoredPoint], expected: Sequence[ScoredPoint], tied_order: bool = False
) -> None:
    """The same points, payloads and scores (to float32 precision: qdrant-client's local mode scores a
    batch as one matrix product), in the same order; with ``tied_order``, equal scores in any order,
    as Qdrant leaves it open (two identical hybrid searches on the embedded engine can differ there)."""

    def key(p: ScoredPoint) -> tuple[float, str]:
        return (-round(p.score, 6), p.id) if tied_order else (0.0, "")

    got, expected = sorted(got, key=key), sorted(expected, key=key)
    assert [(p.id, dict(p.payload)) for p in got] == [(p.id, dict(p.payload)) for p in expected]
    assert [p.score for p in got] == pytest.approx([p.score for p in expected], abs=1e-6)


def _single(store: VectorStore, query: StoreQuery, k: int, **options: Any) -> list[ScoredPoint]:
    """What ``query`` alone returns (a batch of one): a batch of many must reproduce it."""
    return search_one(store, NAME, query, k, **options)


def _batch_queries(store: VectorStore, n: int = 400) -> list[StoreQuery]:
    """A collection without tied scores (random vectors, random term weights) and 300 mixed queries."""
    vectors = random_unit(n, seed=11)
    rng = np.random.default_rng(12)
    sparse: list[SparseVector] = []
    for _ in range(n):
        terms = sorted({int(t) for t in rng.integers(0, 50, size=4)})
        sparse.append(
            SparseVector(indices=tuple(terms), values=tuple(float(w) for w in rng.random(len(terms))))
        )
    chunks = [make_chunk(str(i), language=("en", "de", "ja")[i % 3]) for i in range(n)]
    store.upsert(NAME, [make_point(c, v, s) for c, v, s in zip(chunks, vectors, sparse)])
    queries: list[StoreQuery] = []
    no_terms = SparseVector(indices=(), values=())
    for i in range(300):
        dense = unit(vectors[i] + 0.3 * vectors[(i * 7) % n])
        words = sparse[(i * 5) % n]
        kinds = (
            StoreQuery(dense=dense),
            StoreQuery(sparse=words),
            StoreQuery(dense=dense, sparse=words),
            StoreQuery(sparse=no_terms),  # no known term: no results
            StoreQuery(dense=dense, sparse=no_terms),  # hybrid without terms: dense
        )
        queries.append(kinds[i % len(kinds)])
    return queries


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"flt": SearchFilter(languages=("de", "ja"))},
        {"candidates": 10, "fusion": "dbsf"},
        {"candidates": 10, "sparse_weight": 0.5},
    ],
)
def test_search_batch_returns_what_each_query_alone_returns(
    docs: VectorStore, options: dict[str, Any]
) -> None:
    """Dense, sparse and hybrid queries mixed in one batch, more of them than one engine request holds.

    Fused lists are compared above their lowest score: points tied there may differ, as they do
    between two identical hybrid searches on the embedded engine (qdrant-edge 0.9.0).
    """
    queries = _batch_queries(docs)
    batch = docs.search_batch(NAME, queries, 20, **options)
    assert len(batch) == len(queries)
    for query, got in zip(queries, batch):
        expected = _single(docs, query, 20, **options)
        fused = query.dense is not None and query.sparse is not None and bool(query.sparse.indices)
        if not fused:  # one list, no ties: the same points in the same order
            _same_points(got, expected)
            continue
        assert len(got) == len(expected)
        floor = min((p.score for p in expected), default=0.0) + 1e-6
        _same_points([p for p in got if p.score > floor], [p for p in expected if p.score > floor], True)
    assert docs.search_batch(NAME, [], 5) == []


def test_search_batch_after_optimize_matches_single_searches(docs: VectorStore) -> None:
    vectors = random_unit(3000, seed=13)
    chunks = [make_chunk(str(i), language=("en", "de", "ja")[i % 3]) for i in range(3000)]
    docs.upsert(NAME, [make_point(c, v) for c, v in zip(chunks, vectors)])
    docs.optimize(NAME)
    queries = [StoreQuery(dense=unit(vectors[i] + 0.5 * vectors[i + 1])) for i in range(0, 600, 2)]
    for flt in (None, SearchFilter(languages=("de",))):
        batch = docs.search_batch(NAME, queries, 10, flt)
        for query, got in zip(queries, batch):
            _same_points(got, _single(docs, query, 10, flt=flt))


def test_search_batch_on_a_missing_collection_raises_not_found(store: VectorStore) -> None:
    with pytest.raises(CollectionNotFoundError):
        store.search_batch("nope", [StoreQuery(dense=basis(0))], 3)


def test_store_query_needs_a_vector() -> None:
    with pytest.raises(ValueError, match="needs a dense vector"):
        StoreQuery()


def test_retrieve_in_requested_order_skipping_missing(docs: VectorStore) -> None:
    points = [make_point(make_chunk(str(i)), basis(i)) for i in range(4)]
    docs.upsert(NAME, points)
    missing = str(uuid.uuid4())
    found = docs.retrieve(NAME, [points[3].id, missing, points[1].id])
    assert ids(found) == [points[3].id, points[1].id]
    assert found[0].payload["text"] == "chunk 3" and found[0].score == 0.0
    assert docs.retrieve(NAME, []) == []


def test_optimize_then_search_still_correct(docs: VectorStore) -> None:
    n, dim = 3000, DIM
    vectors = random_unit(n, dim, seed=2)
    langs = ("en", "de", "ja")
    chunks = [make_chunk(str(i), language=langs[i % 3]) for i in range(n)]
    docs.upsert(NAME, [make_point(c, v) for c, v in zip(chunks, vectors)])
    docs.optimize(NAME)
    if isinstance(docs, EdgeStore):
        assert docs.indexed_vectors(NAME) > 0, "optimize() should have built HNSW at this size"
    assert docs.count(NAME) == n
    for i in (0, 123, 2999):
        hit = search_dense(docs, NAME, vectors[i], k=1)[0]
        assert hit.id == chunks[i].id and hit.score == pytest.approx(1.0, abs=1e-5)
    query = vectors[10]
    german = search_dense(docs, NAME, query, k=5, flt=SearchFilter(languages=("de",)))
    expected = [chunks[i].id for i in np.argsort(-(vectors @ query)) if i % 3 == 1][:5]
    assert ids(german) == expected
    late = make_chunk("late")
    docs.upsert(NAME, [make_point(late, basis(3))])  # written after optimize: searchable at once
    assert search_dense(docs, NAME, basis(3), k=1)[0].id == late.id


SCRIPTS = (
    "Ünïcödé Latin, Ελληνικά, Русский текст, العربية, עברית, हिन्दी, ภาษาไทย, 中文文本, 日本語のテキスト, "
    "한국어, ქართული, Հայերեն, 🙂 emoji"
)


def test_payload_round_trip_through_chunk_payload_and_hit(docs: VectorStore) -> None:
    paged = make_chunk("p", text=SCRIPTS, page=3, language="ja", position=4, source="/data/книга.pdf")
    unpaged = make_chunk("u", text="plain text", page=None, source="/data/b.md")
    docs.upsert(NAME, [make_point(paged, basis(0)), make_point(unpaged, basis(1))])
    for chunk, vector in ((paged, basis(0)), (unpaged, basis(1))):
        hit = decode_hit(search_dense(docs, NAME, vector, k=1)[0])
        assert (hit.chunk_id, hit.text, hit.source, hit.page, hit.language, hit.position) == (
            chunk.id,
            chunk.text,
            chunk.source,
            chunk.page,
            chunk.language,
            chunk.position,
        )
        assert hit.root == chunk.root and hit.doc_language == chunk.doc_language
        assert hit.score == pytest.approx(1.0, abs=1e-5)
        [stored] = docs.retrieve(NAME, [chunk.id])
        assert dict(stored.payload) == encode_chunk(chunk)
    assert isinstance(docs.retrieve(NAME, [paged.id])[0].payload["page"], int)


def test_concurrent_searches_while_another_thread_writes(docs: VectorStore) -> None:
    vectors = random_unit(1500, seed=3)
    chunks = [make_chunk(str(i), language=("en", "de")[i % 2]) for i in range(1500)]
    docs.upsert(NAME, [make_point(c, v) for c, v in zip(chunks[:500], vectors[:500])])
    errors: list[BaseException] = []
    done = threading.Event()

    def writer() -> None:
        try:
            for start in range(500, 1500, 100):
                docs.upsert(
                    NAME, [make_point(c, v) for c, v in zip(chunks[start : start + 100], vectors[start:])]
                )
            docs.delete_stale(NAME, "/data/a.txt", keep_hash="h1")
            docs.optimize(NAME)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            done.set()

    def searcher(seed: int) -> None:
        rng = np.random.default_rng(seed)
        try:
            while not done.is_set():
                i = int(rng.integers(0, 500))
                assert search_dense(docs, NAME, vectors[i], k=3)[0].id == chunks[i].id
                search_dense(docs, NAME, vectors[i], k=3, flt=SearchFilter(languages=("de",)))
                docs.count(NAME)
                time.sleep(0.002)  # users, not a tight loop: leave the writer some GIL
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [
        threading.Thread(target=writer),
        *(threading.Thread(target=searcher, args=(s,)) for s in range(2)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert docs.count(NAME) == 1500


# ---- edge only ------------------------------------------------------------------------------------


@pytest.fixture
def index_dir(tmp_path: Path) -> Path:
    return tmp_path / "index"


def test_edge_persists_across_close_and_reopen(index_dir: Path) -> None:
    with EdgeStore(index_dir) as first:
        first.create_collection(NAME, META)
        chunk = make_chunk("kept", text="persisted 持久")
        first.upsert(NAME, [make_point(chunk, basis(2), SparseVector(indices=(1,), values=(1.0,)))])
    with EdgeStore(index_dir) as second:
        assert second.list_collections() == [NAME]
        assert second.get_meta(NAME) == META
        assert second.count(NAME) == 1
        assert search_dense(second, NAME, basis(2), k=1)[0].payload["text"] == "persisted 持久"
        assert ids(search_sparse(second, NAME, SparseVector(indices=(1,), values=(1.0,)), k=1)) == [chunk.id]


def _python(script: str, *args: str, **kwargs: object) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(  # type: ignore[call-overload, no-any-return]
        [sys.executable, "-c", textwrap.dedent(script), *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


CRASHING_WRITER = """
    import sys, time, uuid
    from pathlib import Path
    import numpy as np
    from search.stores.edge import EdgeStore, EdgeTuning
    from search.stores.base import CollectionMeta, Point
    from tests.fakes import fake_spec

    store = EdgeStore(Path(sys.argv[1]), EdgeTuning(flush_interval_s=3600))
    meta = CollectionMeta.for_model(fake_spec(dimension=16), sparse_encoder="test-terms-1")
    store.create_collection("docs", meta)
    rows = np.random.default_rng(0).standard_normal((500, 16)).astype(np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    points = [Point(str(uuid.UUID(int=i + 1)), rows[i], {"language": "en"}) for i in range(500)]
    store.upsert("docs", points[:300])
    store.optimize("docs")  # flushes: these 300 are in segments
    store.upsert("docs", points[300:])  # only in the WAL
    print("written", flush=True)
    time.sleep(120)
"""


def test_edge_survives_sigkill_after_writes_without_close(index_dir: Path) -> None:
    writer = _python(CRASHING_WRITER, str(index_dir))
    try:
        assert writer.stdout is not None
        line = writer.stdout.readline()
        assert line.strip() == "written", writer.stderr.read() if writer.stderr else line
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=30)
    assert writer.returncode == -signal.SIGKILL
    with EdgeStore(index_dir) as reopened:  # the kernel released the dead writer's lock
        assert reopened.count(NAME) == 500  # flushed segments plus the replayed WAL
        rows = np.random.default_rng(0).standard_normal((500, 16)).astype(np.float32)
        assert search_dense(reopened, NAME, unit(rows[450]), k=1)[0].id == str(uuid.UUID(int=451))
        reopened.upsert(NAME, [make_point(make_chunk("after"), basis(0))])
        assert reopened.count(NAME) == 501


def test_edge_optimize_swaps_in_a_new_shard_and_leaves_no_copies(index_dir: Path) -> None:
    vectors = random_unit(2000, seed=4)
    with EdgeStore(index_dir, tuning=TEST_TUNING) as store:
        store.create_collection(NAME, META)
        chunks = [make_chunk(str(i)) for i in range(2000)]
        store.upsert(NAME, [make_point(c, v) for c, v in zip(chunks, vectors)])
        folder = index_dir / "collections" / NAME
        before = os.readlink(folder / "shard")
        store.optimize(NAME)  # built in a child process, then swapped in
        after = os.readlink(folder / "shard")
        assert after != before and store.indexed_vectors(NAME) > 0
        assert sorted(p.name for p in folder.iterdir()) == sorted(["collection.json", "shard", after])
        store.optimize(NAME)  # nothing written since: no second copy
        assert os.readlink(folder / "shard") == after
        (folder / "data-interrupted").mkdir()  # what a crash during optimize leaves behind
    with EdgeStore(index_dir, tuning=TEST_TUNING) as reopened:
        assert search_dense(reopened, NAME, vectors[42], k=1)[0].id == chunks[42].id
        assert not (folder / "data-interrupted").exists()


SECOND_OPENER = """
    import sys
    from pathlib import Path
    from search.stores.edge import EdgeStore
    from search.core.errors import StoreLockedError
    try:
        EdgeStore(Path(sys.argv[1]))
    except StoreLockedError as exc:
        print(exc)
    else:
        print("opened")
"""


def test_edge_second_process_gets_store_locked_error(index_dir: Path) -> None:
    with EdgeStore(index_dir) as holder:
        holder.create_collection(NAME, META)
        other = _python(SECOND_OPENER, str(index_dir))
        out, err = other.communicate(timeout=60)
        assert other.returncode == 0, err
        assert (
            f"another process (pid {os.getpid()}) is using the index at {index_dir.resolve()}" in out.lower()
        )
        assert "--data-dir" in out
        assert holder.count(NAME) == 0  # the holder is unaffected


def test_edge_same_process_second_open_is_refused(index_dir: Path) -> None:
    first = EdgeStore(index_dir)
    try:
        with pytest.raises(StoreLockedError, match="already has the index"):
            EdgeStore(index_dir)
    finally:
        first.close()
    EdgeStore(index_dir).close()  # close() released the lock


def test_edge_closed_store_says_so(index_dir: Path) -> None:
    store = EdgeStore(index_dir)
    store.create_collection(NAME, META)
    store.count(NAME)
    store.close()
    store.close()  # idempotent
    with pytest.raises(StoreError, match="closed"):
        store.count(NAME)


def test_edge_drop_while_searching_gives_not_found_not_a_crash(index_dir: Path) -> None:
    with EdgeStore(index_dir) as store:
        store.create_collection(NAME, META)
        store.upsert(NAME, [make_point(make_chunk(str(i)), basis(i)) for i in range(10)])
        errors: list[BaseException] = []
        stop = threading.Event()

        def search() -> None:
            while not stop.is_set():
                try:
                    search_dense(store, NAME, basis(1), k=3)
                except CollectionNotFoundError:
                    return
                except BaseException as exc:  # noqa: BLE001
                    errors.append(exc)
                    return

        thread = threading.Thread(target=search)
        thread.start()
        store.drop_collection(NAME)
        stop.set()
        thread.join(timeout=10)
        assert not errors, errors
        assert store.list_collections() == []


# ---- client only ----------------------------------------------------------------------------------


def test_client_keeps_meta_in_a_registry_when_the_server_drops_metadata(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = ClientStore(":memory:")
    real_create = store._client.create_collection

    def old_server_create(name: str, **kwargs: object) -> bool:
        kwargs.pop("metadata", None)  # what a server without collection metadata does
        return real_create(name, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(store._client, "create_collection", old_server_create)
    store.create_collection(NAME, META)
    assert store.get_meta(NAME) == META
    assert store.list_collections() == [NAME]
    store.create_collection(NAME, META)  # still idempotent
    with pytest.raises(ModelMismatchError):
        store.create_collection(NAME, CollectionMeta.for_model(fake_spec(name="other", dimension=8)))
    store.drop_collection(NAME)
    assert store.get_meta(NAME) is None and store.list_collections() == []
    store.close()


def test_client_scale_out_settings_are_validated() -> None:
    with pytest.raises(ValueError, match="int8"):
        ClientStore(":memory:", quantization="int4")
    store = ClientStore(":memory:", shards=2, replication_factor=2, on_disk=True, quantization="int8")
    store.create_collection(NAME, META)
    store.upsert(NAME, [make_point(make_chunk("a"), basis(0))])
    assert search_dense(store, NAME, basis(0), k=1)[0].score == pytest.approx(1.0, abs=1e-5)
    store.close()


def test_client_ignores_collections_of_other_applications() -> None:
    store = ClientStore(":memory:")
    store._client.create_collection("foreign", vectors_config={})
    store.create_collection(NAME, META)
    assert store.list_collections() == [NAME]
    with pytest.raises(StoreError, match="not created by this application"):
        store.create_collection("foreign", META)
    store.close()
