"""Searcher: a query in any language -> ranked chunks of one collection.

A searcher is bound to one collection and refuses an embedder other than the
one that built it: vectors from two models live in unrelated spaces.
"""

from __future__ import annotations

import copy
import time
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np

from search.core.errors import CollectionNotFoundError, ModelError, ModelMismatchError, QueryError
from search.core.types import Hit, SparseVector
from search.models.embedder import Embedder
from search.models.reranker import Reranker
from search.retrieval.fusion import fuse
from search.retrieval.raw_scan import RawScan
from search.space.feedback import Feedback, votes
from search.space.vector_space import VectorSpace
from search.stores.base import (
    CollectionMeta,
    FusionMethod,
    ScoredPoint,
    SearchFilter,
    StoreQuery,
    VectorStore,
)
from search.stores.payload import Field, decode_hit
from search.text.query_language import QueryLanguage
from search.text.query_language import query_language as read_query_language

Mode = Literal["dense", "sparse", "hybrid"]
MODES: tuple[Mode, ...] = ("dense", "sparse", "hybrid")
MAX_QUERY_CHARS = 2000  # far beyond any model's query budget; bounds the work a hostile query can cause
MAX_K = 1000
# Hybrid fusion, from benchmarks/second_stage.py on XQuAD (en/de/zh/ar, nDCG@10 vs dense):
# RRF with the sparse list at half weight gains +1.3 points on same-language queries and
# costs -1.1 on cross-lingual ones, where the lexical list is noise. Equal-weight RRF
# (+1.6 / -7.7) and DBSF (+2.1 / -15.9) gain more same-language but lose far more across.
# Chosen again on XQuAD's dev articles (README, "Models"): 0.25 leads on the mean of both, and the
# test articles agree; it waits for the hybrid cue's recalibration before it becomes the default.
DEFAULT_FUSION: FusionMethod = "rrf"
DEFAULT_SPARSE_WEIGHT = 0.5
VOTE_RECHECK_S = 30.0  # how long a searcher trusts its reading of the collection's languages
HYBRID_DEPTH = 100  # candidates of each list a hybrid search fuses (more when k is larger)


@dataclass(frozen=True)
class SearchResult:
    query: str
    hits: tuple[Hit, ...]
    collection: str
    model: str
    mode: str
    reranker: str | None = None
    timings_ms: Mapping[str, float] = field(default_factory=dict)
    query_vector: np.ndarray | None = field(default=None, compare=False, repr=False)  # the model's own
    query_language: QueryLanguage | None = None  # how the query was read (shown; not used for ranking)
    corrected: bool = False  # the language correction and cross-lingual feedback were applied


def clean_query(text: str) -> str:
    """Drop control and format characters, collapse whitespace, bound the length."""
    kept = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in text[: MAX_QUERY_CHARS * 2])
    cleaned = " ".join(kept.split())[:MAX_QUERY_CHARS]
    if not cleaned:
        raise QueryError("The query is empty.")
    return cleaned


class Searcher:
    def __init__(
        self,
        store: VectorStore,
        collection: str,
        space: VectorSpace,
        meta: CollectionMeta | None = None,
    ) -> None:
        """``space``: the vector space the collection records (checked here, the one compatibility check);
        ``meta``: the collection's description when the caller already holds it (no store call)."""
        meta = meta or store.get_meta(collection)
        if meta is None:
            raise CollectionNotFoundError(
                f"No collection {collection!r}. Index a folder into it first: app.py index DIR --collection {collection}"
            )
        space.check(meta, collection)
        self._store = store
        self._collection = collection
        self.space = space
        self._raw: RawScan | None = None  # set by ``uncorrected``: dense search scans recovered raw vectors
        self._vote_checked: tuple[float, bool] | None = None  # (when, whether the vote runs)
        self.meta: CollectionMeta = meta

    @property
    def collection(self) -> str:
        return self._collection

    @property
    def embedder(self) -> Embedder:
        return self.space.embedder

    def modes(self) -> tuple[Mode, ...]:
        """Modes this collection supports: sparse and hybrid need stored sparse vectors (a raw view of a
        corrected collection has no hybrid: its dense list is an exact scan outside the store)."""
        if self.space.sparse is None:
            return ("dense",)
        return ("dense", "sparse") if self._raw is not None else MODES

    @property
    def variant(self) -> str:
        """Which vectors this searcher compares (VectorSpace.variant): "raw", "corrected" or "vote"."""
        return self.space.variant

    def _view(self, space: VectorSpace) -> Searcher:
        other = copy.copy(self)
        other.space = space
        return other

    def with_queries(self, embedder: Embedder) -> Searcher:
        """This searcher with queries embedded by ``embedder``: the same model under another query prompt
        or instruction (VectorSpace.with_queries refuses anything else)."""
        try:
            return self._view(self.space.with_queries(embedder))
        except ModelMismatchError as exc:
            raise ModelMismatchError(f"Collection {self._collection!r}: {exc}") from None

    def without_vote(self) -> Searcher:
        """The collection's corrected vectors searched without the vote (the "corrected" variant): the
        same stored vectors and corrected query, one store query less."""
        return self._view(self.space.without_vote())

    def raw_scan(self) -> RawScan:
        """An exact scan of this collection's raw vectors, recovered from its corrected ones (built on
        first search, kept by the caller for the collection's state)."""
        if self.space.correction is None:
            raise ValueError("a collection written raw needs no scan: it is its own raw variant")
        return RawScan(self._store, self._collection, self.space.correction)

    def uncorrected(self, scan: RawScan) -> Searcher:
        """The collection searched as the model's raw vectors (the "raw" variant): queries uncorrected,
        no vote, dense scores from ``scan`` (exact cosines with the recovered raw passages, see
        search.retrieval.raw_scan). A collection written raw is its own raw variant."""
        if self.space.correction is None:
            return self.without_vote()
        other = self._view(self.space.uncorrected())
        other._raw = scan
        return other

    def search(
        self,
        query: str,
        k: int = 10,
        flt: SearchFilter | None = None,
        mode: Mode = "dense",
        reranker: Reranker | None = None,
        candidates: int = 50,
        task: str | None = None,
        fusion: FusionMethod = DEFAULT_FUSION,
        sparse_weight: float = DEFAULT_SPARSE_WEIGHT,
        query_language: str | None = None,
    ) -> SearchResult:
        """One query: ``search_batch`` of one, plus the query's language (``query_language``: the
        user's reading of it, else detected), reported back."""
        text = clean_query(query)
        timings: dict[str, float] = {}
        language = self._read_language(text, query_language, timings)
        (result,) = self.search_batch(
            [query], k, flt, mode, reranker, candidates, task, fusion, sparse_weight
        )
        timings.update(result.timings_ms)
        timings["total"] = round(timings["total"] + timings["language"], 2)
        return replace(result, timings_ms=timings, query_language=language)

    def search_batch(
        self,
        queries: Sequence[str],
        k: int = 10,
        flt: SearchFilter | None = None,
        mode: Mode = "dense",
        reranker: Reranker | None = None,
        candidates: int = 50,
        task: str | None = None,
        fusion: FusionMethod = DEFAULT_FUSION,
        sparse_weight: float = DEFAULT_SPARSE_WEIGHT,
        vectors: np.ndarray | None = None,
    ) -> list[SearchResult]:
        """Many queries at once: one embedding call, one sparse encoding call, the store's batch search.

        Result ``i`` holds the hits ``search(queries[i], ...)`` returns (scores to float32
        precision; see VectorStore.search_batch). An evaluation runs thousands of queries:
        embedded together they cost a fraction of one model call each, and the store plans
        them as one batch. ``vectors``: the queries already embedded (row i for query i),
        e.g. shared by the dense and hybrid runs of one model. Timings are the batch's, per query.
        """
        texts = []
        for row, query in enumerate(queries):
            try:
                texts.append(clean_query(query))
            except QueryError as exc:
                raise QueryError(f"Query {row + 1} of {len(queries)}: {exc}") from None
        self._check(k, mode)
        if vectors is not None and len(vectors) != len(texts):
            raise ValueError(f"{len(vectors)} query vectors for {len(texts)} queries")
        if not texts:
            return []
        timings: dict[str, float] = {}
        started = time.perf_counter()
        dense: Sequence[np.ndarray | None] = [None] * len(texts)
        if mode in ("dense", "hybrid"):
            t0 = time.perf_counter()
            dense = list(
                vectors if vectors is not None else self.space.embedder.encode_queries(texts, task=task)
            )
            timings["embed"] = _ms(t0)
        sparse: Sequence[SparseVector | None] = [None] * len(texts)
        if mode in ("sparse", "hybrid"):
            assert self.space.sparse is not None
            t0 = time.perf_counter()
            sparse = self.space.sparse.encode_queries(texts)
            timings["sparse"] = _ms(t0)
        searched = list(dense)
        correction, feedback = self.space.correction, self.space.feedback
        if correction is not None and mode != "sparse":
            searched = list(correction.queries(np.stack([np.asarray(d) for d in dense])))
        if any(d is not None and not np.isfinite(d).all() for d in searched):
            # A NaN query matches nothing and would read as "0 results": say what is broken instead.
            raise ModelError(
                f"The model {self.space.spec.name!r} computed a NaN or infinite query vector: its "
                "files (or the language correction's means) are damaged; run app.py doctor, or delete the "
                "model's cache folder to have it built again."
            )
        first_k = max(k, candidates) if reranker else k
        if mode == "dense" and feedback is not None and self._votes():
            t0 = time.perf_counter()
            searched = list(self._voted([np.asarray(q) for q in searched], feedback))
            timings["feedback"] = _ms(t0)
        t0 = time.perf_counter()
        if mode == "hybrid":
            results = self._hybrid(searched, sparse, first_k, flt, fusion, sparse_weight)
        elif mode == "dense" and self._raw is not None:
            results = self._raw.search_batch([np.asarray(q) for q in searched], first_k, flt, self.meta)
        else:
            requests = [StoreQuery(dense=d, sparse=s) for d, s in zip(searched, sparse)]
            results = self._store.search_batch(self._collection, requests, first_k, flt)
        timings["search"] = _ms(t0)
        hits = [[decode_hit(point) for point in points] for points in results]
        if reranker is not None:
            t0 = time.perf_counter()
            hits = [reranker.rerank(text, found, k) if found else found for text, found in zip(texts, hits)]
            timings["rerank"] = _ms(t0)
        timings["total"] = _ms(started)
        per_query = {name: round(ms / len(texts), 3) for name, ms in timings.items()}
        return [
            SearchResult(
                query=text,
                hits=tuple(found[:k]),
                collection=self._collection,
                model=self.space.spec.name,
                mode=mode,
                reranker=reranker.name if reranker else None,
                timings_ms=per_query,
                query_vector=vector,
                corrected=correction is not None,
            )
            for text, found, vector in zip(texts, hits, dense)
        ]

    def _votes(self) -> bool:
        """Whether the collection holds more than one language: a facet call (3 ms at 50k chunks, 8
        searches' worth), so read again at most every VOTE_RECHECK_S seconds; SearchApp builds a new
        searcher after each index run, so its own runs show at once."""
        now = time.monotonic()
        if self._vote_checked is None or now - self._vote_checked[0] > VOTE_RECHECK_S:
            self._vote_checked = (now, votes(self._store.facet(self._collection, Field.LANGUAGE.value)))
        return self._vote_checked[1]

    def _voted(self, queries: Sequence[np.ndarray], feedback: Feedback) -> list[np.ndarray]:
        """Each query moved toward its best passages in the whole collection: no filter, so that a
        filter narrows the results of the one moved vector instead of changing who votes."""
        voters = self._store.search_batch(
            self._collection, [StoreQuery(dense=q, with_vectors=True) for q in queries], feedback.top
        )
        return [feedback.query(q, found) for q, found in zip(queries, voters)]

    def _hybrid(
        self,
        dense: Sequence[np.ndarray | None],
        sparse: Sequence[SparseVector | None],
        k: int,
        flt: SearchFilter | None,
        fusion: FusionMethod,
        sparse_weight: float,
    ) -> list[list[ScoredPoint]]:
        """Dense and sparse lists fused by search.retrieval.fusion: ranks from the unfiltered lists."""
        depth = max(HYBRID_DEPTH, k)
        queries = []
        for d, s in zip(dense, sparse):
            queries += [StoreQuery(dense=d), StoreQuery(sparse=s)]
        unfiltered = self._store.search_batch(self._collection, queries, depth)
        filtered = (
            unfiltered
            if flt is None or flt.is_empty()
            else self._store.search_batch(self._collection, queries, depth, flt)
        )
        weights = (1.0, sparse_weight)
        return [
            fuse(filtered[i : i + 2], unfiltered[i : i + 2], weights, depth, fusion)[:k]
            for i in range(0, len(queries), 2)
        ]

    def _check(self, k: int, mode: Mode) -> None:
        if not 1 <= k <= MAX_K:
            raise QueryError(f"k must be between 1 and {MAX_K}.")
        if mode not in self.modes():
            why = " (the raw variant of a corrected collection scans its dense vectors outside the store)"
            raise QueryError(
                f"Mode {mode!r} is not available for collection {self._collection!r}; use one of {self.modes()}"
                + (why if self._raw is not None and mode == "hybrid" else "")
                + "."
            )

    def _read_language(self, text: str, given: str | None, timings: dict[str, float]) -> QueryLanguage:
        t0 = time.perf_counter()
        language = read_query_language(text, given)
        timings["language"] = _ms(t0)
        return language


def _ms(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000, 2)
