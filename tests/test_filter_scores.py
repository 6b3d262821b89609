"""A filter narrows the results, it never rescales them: the same passage, the same score (issue 22).

The cross-lingual vote reads the whole collection's best passages (search.space.feedback) and
hybrid fusion ranks every passage against the unfiltered lists (search.retrieval.fusion), so a
language or source filter only removes passages. Both stores, every mode that shows a score.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from indexer.pipeline import index_folder
from search.models.encoders.transformers import TransformersEmbedder
from search.models.language_bias import LanguageCentering
from search.retrieval.fusion import fuse, rrf_term
from search.retrieval.searcher import Searcher
from search.space.feedback import DEFAULT_FEEDBACK, Feedback, votes
from search.space.vector_space import VectorSpace
from search.stores.base import ScoredPoint, SearchFilter, VectorStore
from search.stores.client import ClientStore
from search.text.bm25 import SubwordBM25Encoder
from tests.tiny_models import load_transformers, save_tiny_encoder

DOCS = {
    "cron-de.txt": "Mit cron plant man wiederkehrende Aufgaben. Die Datei crontab legt fest, wann ein Befehl läuft.",
    "cron-en.txt": "Use cron to schedule recurring tasks. The crontab file says when a command runs.",
    "cron-fr.txt": "On planifie les tâches répétitives avec cron. Le fichier crontab indique quand une commande s'exécute.",
    "apt-de.txt": "Mit apt installiert man Pakete. Der Befehl apt update liest die Paketlisten neu ein.",
    "apt-en.txt": "Install packages with apt. The command apt update reads the package lists again.",
    "net-fr.txt": "La configuration du réseau se trouve dans le fichier interfaces. Redémarrez le service réseau.",
    "net-es.txt": "La configuración de la red está en el archivo interfaces. Reinicie el servicio de red.",
    "bees-de.txt": "Bienenvölker sterben im Winter, wenn die Varroamilbe sie geschwächt hat.",
}
QUERIES = ("Wie plane ich eine Aufgabe mit cron?", "install packages with apt", "configuración de la red")
FILTERS = (
    SearchFilter(languages=("de",)),
    SearchFilter(languages=("fr", "es")),
    SearchFilter(sources=()),  # empty: no restriction
)


@pytest.fixture(scope="module")
def embedder(tmp_path_factory: pytest.TempPathFactory) -> TransformersEmbedder:
    folder = tmp_path_factory.mktemp("tiny-e5")
    save_tiny_encoder(folder)
    return load_transformers(str(folder), backend="torch")


def _centering(dimension: int) -> LanguageCentering:
    rng = np.random.default_rng(0)
    means = {
        lang: (0.3 * rng.standard_normal(dimension)).astype(np.float32) for lang in ("de", "en", "fr", "es")
    }
    return LanguageCentering(
        name="centering-v1:filter-test",
        document_means=means,
        document_fallback=np.mean(list(means.values()), axis=0).astype(np.float32),
        query_mean=(0.2 * rng.standard_normal(dimension)).astype(np.float32),
    )


@pytest.fixture(params=["edge", "client"])
def searcher(
    request: pytest.FixtureRequest, tmp_path: Path, embedder: TransformersEmbedder
) -> Iterator[Searcher]:
    from search.stores.edge import EdgeStore

    store: VectorStore = EdgeStore(tmp_path / "index") if request.param == "edge" else ClientStore(":memory:")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name, text in DOCS.items():
        (corpus / name).write_text(text + "\n", encoding="utf-8")
    sparse = SubwordBM25Encoder.for_embedder(embedder)
    correction = _centering(embedder.spec.dimension)
    space = VectorSpace(embedder, correction=correction, feedback=DEFAULT_FEEDBACK, sparse=sparse)
    index_folder(corpus, space, store, "docs")
    yield Searcher(store, "docs", space)
    store.close()


@pytest.mark.parametrize("mode", ["dense", "hybrid", "sparse"])
def test_the_same_passage_gets_the_same_score_with_and_without_a_filter(
    searcher: Searcher, mode: str
) -> None:
    everything = len(DOCS) * 2
    sources = sorted({hit.source for hit in searcher.search("cron", k=everything).hits})
    filters = (
        *FILTERS,
        SearchFilter(sources=tuple(sources[:2])),
        SearchFilter(languages=("de",), sources=tuple(sources)),
    )
    for query in QUERIES:
        unfiltered = {hit.chunk_id: hit.score for hit in searcher.search(query, k=everything, mode=mode).hits}  # type: ignore[arg-type]
        for flt in filters:
            hits = searcher.search(query, k=everything, flt=flt, mode=mode).hits  # type: ignore[arg-type]
            assert hits or mode == "sparse"
            for hit in hits:
                assert flt.is_empty() or hit.language in flt.languages or hit.source in flt.sources
                assert hit.chunk_id in unfiltered, (query, flt, hit.source)
                assert hit.score == pytest.approx(unfiltered[hit.chunk_id], abs=1e-5), (
                    query,
                    flt,
                    mode,
                    hit.source,
                )
            scores = [hit.score for hit in hits]
            assert scores == sorted(scores, reverse=True)


def test_k_does_not_change_a_score(searcher: Searcher) -> None:
    for mode in ("dense", "hybrid"):
        deep = {h.chunk_id: h.score for h in searcher.search(QUERIES[0], k=12, mode=mode).hits}  # type: ignore[arg-type]
        for hit in searcher.search(QUERIES[0], k=2, mode=mode).hits:  # type: ignore[arg-type]
            assert hit.score == pytest.approx(deep[hit.chunk_id], abs=1e-5)


def test_the_vote_runs_only_where_more_than_one_language_can_answer() -> None:
    assert not votes({"de": 40})
    assert not votes({"de": 40, "und": 3})  # code and numbers are no language
    assert votes({"de": 40, "fr": 1})
    query = np.ones(3, np.float32) / np.sqrt(3)
    assert np.allclose(Feedback().query(query, []), query)  # nothing to vote: the query as it is


def test_fusion_ranks_a_filtered_passage_among_the_unfiltered_list() -> None:
    unfiltered = [ScoredPoint(str(i), 1.0 - i / 10, {}) for i in range(5)]  # ranks 0..4
    filtered = [unfiltered[3], unfiltered[4]]  # the filter keeps two of them
    fused = fuse([filtered], [unfiltered], [1.0], depth=100)
    assert [p.id for p in fused] == ["3", "4"]
    assert fused[0].score == pytest.approx(rrf_term(3, 1.0)) and fused[1].score == pytest.approx(
        rrf_term(4, 1.0)
    )
    beyond = fuse(
        [[ScoredPoint("x", 0.1, {})]], [unfiltered], [1.0], depth=5
    )  # below a full list: not a candidate
    assert beyond[0].score == 0.0
