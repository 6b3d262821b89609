"""Indexing with subword BM25 and searching sparse / hybrid / reranked on both store backends."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from indexer.pipeline import index_folder
from search.core.types import Hit
from search.models.encoders.transformers import TransformersEmbedder
from search.models.reranker import order_by_scores
from search.retrieval.searcher import Searcher
from search.space.vector_space import VectorSpace
from search.stores.base import FUSION_METHODS, SearchFilter, VectorStore
from search.stores.client import ClientStore
from search.text.bm25 import SubwordBM25Encoder
from tests.tiny_models import load_transformers, save_tiny_encoder

DOCS = {
    "cats.txt": "the cat read a book in the house",
    "trees.txt": "the tree is green and the water is blue",
    "hello.txt": "hello world and the house",
    "german.txt": "der Hund und die Katze ist in dem Haus",
    "numbers.txt": "one two three and the house",
    "chinese.txt": "中 文 日 本",
}


@pytest.fixture(scope="module")
def embedder(tmp_path_factory: pytest.TempPathFactory) -> TransformersEmbedder:
    folder = tmp_path_factory.mktemp("tiny-e5")
    save_tiny_encoder(folder)
    return load_transformers(str(folder), backend="torch")


@pytest.fixture(params=["edge", "client"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[VectorStore]:
    from search.stores.edge import EdgeStore

    backend: VectorStore = (
        EdgeStore(tmp_path / "index") if request.param == "edge" else ClientStore(":memory:")
    )
    yield backend
    backend.close()


@pytest.fixture
def searcher(store: VectorStore, embedder: TransformersEmbedder, tmp_path: Path) -> Searcher:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name, text in DOCS.items():
        (corpus / name).write_text(text + "\n", encoding="utf-8")
    sparse = SubwordBM25Encoder.for_embedder(embedder)
    report = index_folder(corpus, VectorSpace(embedder, sparse=sparse), store, "docs")
    assert report.chunks_written >= len(DOCS)
    assert store.get_meta("docs").sparse_encoder == sparse.name  # type: ignore[union-attr]
    return Searcher(store, "docs", VectorSpace(embedder, sparse=sparse))


def names(hits: tuple[Hit, ...] | list[Hit]) -> list[str]:
    return [Path(h.source).name for h in hits]


def test_collection_with_sparse_vectors_offers_all_modes(searcher: Searcher) -> None:
    assert searcher.modes() == ("dense", "sparse", "hybrid")


def test_sparse_finds_exact_terms_and_idf_prefers_rare_ones(searcher: Searcher) -> None:
    assert names(searcher.search("Katze", k=1, mode="sparse").hits) == ["german.txt"]
    # "house" is in three documents, "book" in one: IDF makes the rare term decide.
    assert names(searcher.search("house book", k=1, mode="sparse").hits) == ["cats.txt"]
    assert names(searcher.search("中 文", k=1, mode="sparse").hits) == ["chinese.txt"]


def test_hybrid_fuses_both_lists_and_honours_filters(searcher: Searcher) -> None:
    dense = names(searcher.search("house book", k=6, mode="dense").hits)
    for fusion in FUSION_METHODS:
        hybrid = searcher.search("house book", k=6, mode="hybrid", fusion=fusion)
        assert set(names(hybrid.hits)) == set(dense)  # same candidates, another order
        assert names(hybrid.hits)[0] == "cats.txt"  # the only one with both terms
        assert "sparse" in hybrid.timings_ms and "embed" in hybrid.timings_ms
    only = searcher.search("house", k=5, mode="hybrid", flt=SearchFilter(languages=("xx",)))
    assert only.hits == ()


class ReverseReranker:
    """Scores candidates by reversed first-stage order: shows the searcher hands over its candidates."""

    name = "reverse"

    def rerank(self, query: str, hits: Sequence[Hit], k: int) -> list[Hit]:
        return order_by_scores(hits, [float(i) for i in range(len(hits))], k)


def test_reranker_sees_the_candidate_pool_and_returns_k(searcher: Searcher) -> None:
    plain = searcher.search("house", k=6, mode="hybrid")
    reranked = searcher.search("house", k=2, mode="hybrid", reranker=ReverseReranker(), candidates=6)
    assert reranked.reranker == "reverse"
    assert len(reranked.hits) == 2
    assert names(reranked.hits) == names(plain.hits)[::-1][:2]


def test_rrf_weights_move_the_fusion_towards_one_list(searcher: Searcher) -> None:
    """Qdrant's weighted RRF divides each list's rank by its weight (1 / (1 + (rank + 1) / w), k=2)."""
    query = "the house book"
    dense = names(searcher.search(query, k=6, mode="dense").hits)
    sparse = names(searcher.search(query, k=6, mode="sparse").hits)
    leaning_dense = names(searcher.search(query, k=6, mode="hybrid", fusion="rrf", sparse_weight=1e-3).hits)
    leaning_sparse = names(searcher.search(query, k=6, mode="hybrid", fusion="rrf", sparse_weight=1e3).hits)
    assert leaning_dense == dense
    assert leaning_sparse[0] == sparse[0]
    assert set(leaning_sparse[: len(sparse)]) == set(sparse)  # every lexical match above every non-match
