"""Evaluate retrieval pipelines end to end on a labeled query set.

Each model indexes the query set's corpus with the app's own chunking and
embedding into a scratch in-memory store, then every query goes through the
app's Searcher exactly as a user's would (dense / sparse / hybrid, optional
reranker); chunk hits are folded to documents and scored by search.evaluation.metrics.
So the numbers measure the product, not a separate benchmark path.

The scratch indexes live on an ``EvalWorkspace`` that the caller owns (the UI
keeps one per session), so comparing a second reranker on the same model does
not re-embed the corpus.
"""

from __future__ import annotations

import hashlib
import math
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Self

from indexer.pipeline import RAW_VECTORS, IndexConfig, VectorSettings, index_documents
from search.application.services import Services
from search.core.errors import InputError, QueryError
from search.core.reports import IndexReport
from search.core.types import SECTION_SEPARATOR, CorpusDoc, Document, Hit, QuerySet, Section
from search.evaluation.metrics import DEFAULT_METRICS, evaluate, fold_hits
from search.evaluation.report import EvalReport
from search.models.embedder import Embedder
from search.models.reranker import Reranker
from search.retrieval.feedback import Feedback
from search.retrieval.searcher import MAX_K, MODES, Mode, Searcher
from search.stores.base import VectorStore
from search.text.sparse import SparseEncoder

ProgressCallback = Callable[[float, str], None]
EVAL_ROOT = "/queryset"  # virtual folder the corpus documents are "indexed from": hit.relpath == doc id


@dataclass(frozen=True)
class PipelineSpec:
    """One retrieval pipeline to evaluate: a model, a first stage and an optional reranker."""

    model: str
    mode: Mode = "dense"
    reranker: str | None = None
    candidates: int = 50  # first-stage chunks a reranker re-scores (its ranking is cut there)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise InputError(f"Unknown mode {self.mode!r}; use one of {MODES}.")

    @property
    def label(self) -> str:
        """Short unique name for tables: the model alone for plain dense search."""
        if self.mode == "dense" and not self.reranker:
            return self.model
        label = f"{self.model}/{self.mode}"
        if self.reranker:
            label += f"+{self.reranker.rstrip('/').rsplit('/', 1)[-1]}"
        return label


@dataclass(frozen=True)
class IndexedCorpus:
    """A query set's corpus, chunked and embedded by one model into the workspace store."""

    collection: str
    model: str
    sparse: str | None
    documents: int
    chunks: int
    report: IndexReport


class EvalWorkspace:
    """Scratch indexes of query-set corpora, one per (corpus, model, sparse encoder), reused across runs.

    Owns its store (by default an in-memory qdrant-client, exact search), never the
    app's: evaluation must not add collections to the user's index.
    """

    def __init__(self, store: VectorStore | None = None, config: IndexConfig | None = None) -> None:
        if store is None:
            from search.stores.client import ClientStore

            store = ClientStore(":memory:")
        self.store = store
        self.config = config or IndexConfig(optimize=False)  # exact search in memory: nothing to build
        self._indexed: dict[tuple[str, str, str | None], IndexedCorpus] = {}
        self._lock = threading.Lock()

    def indexed(
        self,
        queryset: QuerySet,
        embedder: Embedder,
        sparse: SparseEncoder | None = None,
        progress: Callable[[int, int], None] | None = None,
        vectors: VectorSettings = RAW_VECTORS,
    ) -> IndexedCorpus:
        """The corpus indexed by ``embedder`` (and ``sparse``, with ``vectors``' correction), built on first use."""
        fingerprint = corpus_fingerprint(queryset)
        variant = f"{sparse.name if sparse else None}|{vectors.names}"
        key = (fingerprint, embedder.spec.name, variant)
        with self._lock:
            if key in self._indexed:
                return self._indexed[key]
            collection = _collection_name(fingerprint, embedder.spec.name, variant)
            if self.store.get_meta(collection) is not None:  # a half-built index from a cancelled run
                self.store.drop_collection(collection)
            documents = corpus_documents(queryset)
            report = index_documents(
                documents,
                embedder,
                self.store,
                collection,
                sparse=sparse,
                config=self.config,
                progress=(lambda p: progress(p.files_done, p.files_total)) if progress else None,
                vectors=vectors,
            )
            entry = IndexedCorpus(
                collection=collection,
                model=embedder.spec.name,
                sparse=sparse.name if sparse else None,
                documents=len(documents),
                chunks=report.chunks_written,
                report=report,
            )
            self._indexed[key] = entry
            return entry

    def clear(self) -> None:
        with self._lock:
            for entry in self._indexed.values():
                self.store.drop_collection(entry.collection)
            self._indexed.clear()

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def corpus_fingerprint(queryset: QuerySet) -> str:
    """Content hash of a corpus: the same documents reuse a scratch index whatever the set is called."""
    digest = hashlib.sha256()
    for doc_id in sorted(queryset.corpus):
        doc = queryset.corpus[doc_id]
        for part in (doc_id, doc.title, doc.language, doc.text):
            digest.update(part.encode("utf-8", errors="surrogatepass") + b"\x00")
    return digest.hexdigest()


def _collection_name(fingerprint: str, model: str, sparse: str | None) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", model.lower().rsplit("/", 1)[-1]).strip("-")[:30] or "model"
    suffix = hashlib.sha256(f"{model}\n{sparse}".encode()).hexdigest()[:6]
    return f"eval-{fingerprint[:12]}-{slug}-{suffix}"


def corpus_documents(queryset: QuerySet) -> list[Document]:
    """Corpus records as Documents below a virtual root, so ``hit.relpath`` is the corpus id."""
    return [_document(doc) for doc in queryset.corpus.values()]


def _document(doc: CorpusDoc) -> Document:
    paragraphs = [p.strip() for p in doc.text.split(SECTION_SEPARATOR) if p.strip()]
    sections = [Section(text=p) for p in paragraphs]
    if doc.title.strip() and not doc.text.lstrip().startswith(doc.title.strip()):
        sections.insert(0, Section(text=doc.title.strip(), kind="title"))
    return Document(
        source=f"{EVAL_ROOT}/{doc.doc_id}",
        root=EVAL_ROOT,
        content_hash=hashlib.sha256(doc.text.encode("utf-8", errors="surrogatepass")).hexdigest(),
        format="txt",
        sections=tuple(sections),
        language=doc.language,
        title=doc.title,
    )


def hit_doc_id(hit: Hit) -> str:
    return hit.relpath


@dataclass
class _Progress:
    callback: ProgressCallback | None
    total: int
    done: int = 0
    last: float = field(default=-1.0)

    def advance(self, units: int, message: str) -> None:
        self.done += units
        self.report(message)

    def indexing(self, model: str) -> Callable[[int, int], None]:
        """Progress of one model's indexing, counted from where the tracker stands now."""
        base = self.done

        def update(done: int, total: int) -> None:
            self.done = base + done
            self.report(f"indexing with {model}: {done}/{total}")

        return update

    def report(self, message: str) -> None:
        if self.callback is None:
            return
        fraction = min(1.0, self.done / self.total) if self.total else 1.0
        if fraction - self.last >= 0.005 or fraction >= 1.0:  # at most ~200 updates per run
            self.last = fraction
            self.callback(fraction, message)


def evaluate_pipelines(
    services: Services,
    queryset: QuerySet,
    pipelines: Sequence[PipelineSpec],
    progress: ProgressCallback | None = None,
    k: int = 100,
    *,
    workspace: EvalWorkspace | None = None,
    metrics: Sequence[str] = DEFAULT_METRICS,
    stat_test: str = "student",
) -> EvalReport:
    """Index the corpus per model (cached on ``workspace``), run every query, score the runs.

    Pipelines whose mode needs a sparse encoder, or whose reranker is not available,
    are refused before any work starts, with a message naming them. ``k`` documents
    are kept per query (chunk results are fetched deep enough to fill them).
    """
    if not pipelines:
        raise InputError("No pipelines to evaluate.")
    if not 1 <= k <= MAX_K:
        raise InputError(f"k must be between 1 and {MAX_K}.")
    unique = list(dict.fromkeys(pipelines))
    labels = [p.label for p in unique]
    if len(set(labels)) != len(labels):
        raise InputError(f"Two pipelines share a label: {labels}")
    models = list(dict.fromkeys(p.model for p in unique))
    for model in models:
        services.spec(model)  # unknown names fail here, listing the known ones
    rerankers = {p.reranker: services.reranker(p.reranker) for p in unique if p.reranker}
    sparse_for = _sparse_encoders(services, unique)

    own_workspace = workspace is None
    space = workspace or EvalWorkspace()
    n_queries = len(queryset.queries)
    tracker = _Progress(progress, total=len(models) * len(queryset.corpus) + len(unique) * n_queries)
    runs: dict[str, dict[str, dict[str, float]]] = {}
    latencies: dict[str, list[float]] = {}
    details: dict[str, dict[str, Any]] = {}
    try:
        for model in models:
            embedder = services.embedder(model)
            sparse = sparse_for[model]
            tracker.report(f"indexing {len(queryset.corpus)} documents with {model}")
            t0 = time.perf_counter()
            indexed_before = tracker.done
            vectors = services.vector_settings(model)
            corpus = space.indexed(
                queryset,
                services.document_embedder(model),
                sparse,
                progress=tracker.indexing(model),
                vectors=vectors,
            )
            tracker.done = indexed_before + len(queryset.corpus)  # all of it, also when the index was cached
            index_seconds = round(time.perf_counter() - t0, 2)
            feedback = Feedback.parse(vectors.feedback) if vectors.feedback else None
            searcher = Searcher(
                space.store,
                corpus.collection,
                embedder,
                sparse,
                correction=vectors.correction,
                feedback=feedback,
            )
            chunk_k = _chunk_depth(k, corpus.chunks, corpus.documents)
            for spec in (p for p in unique if p.model == model):
                reranker = rerankers.get(spec.reranker) if spec.reranker else None
                run, times = _run_queries(searcher, queryset, spec, reranker, chunk_k, k, tracker)
                runs[spec.label] = run
                latencies[spec.label] = times
                details[spec.label] = {
                    "model": model,
                    "mode": spec.mode,
                    "reranker": spec.reranker,
                    "documents": corpus.documents,
                    "chunks": corpus.chunks,
                    "index_seconds": index_seconds,  # 0 when the workspace already held the index
                    "search_seconds": round(sum(times) / 1000, 2),
                }
    finally:
        if own_workspace:
            space.close()
    tracker.report("scoring")
    return evaluate(queryset, runs, metrics, latencies_ms=latencies, stat_test=stat_test, details=details)


def _sparse_encoders(
    services: Services, pipelines: Sequence[PipelineSpec]
) -> dict[str, SparseEncoder | None]:
    """Each model's sparse encoder, if the app has one; refuse sparse and hybrid pipelines when it has not.

    Every scratch index gets sparse vectors when an encoder exists, so dense and hybrid
    runs of one model share one index (a later hybrid run re-embeds nothing).
    """
    out: dict[str, SparseEncoder | None] = {}
    for spec in pipelines:
        if spec.model not in out:
            out[spec.model] = services.sparse_encoder(spec.model)
        if spec.mode != "dense" and out[spec.model] is None:
            raise InputError(
                f"Pipeline {spec.label!r} needs sparse (lexical) vectors, but this app has no sparse encoder "
                "configured; evaluate it in dense mode, or build Services with a sparse_factory."
            )
    return out


def _chunk_depth(k: int, chunks: int, documents: int) -> int:
    """Chunks to fetch so that, after folding, about ``k`` distinct documents remain."""
    per_doc = max(1, math.ceil(chunks / max(1, documents)))
    return max(1, min(MAX_K, k * per_doc, max(chunks, 1)))


def _run_queries(
    searcher: Searcher,
    queryset: QuerySet,
    spec: PipelineSpec,
    reranker: Reranker | None,
    chunk_k: int,
    k: int,
    tracker: _Progress,
) -> tuple[dict[str, dict[str, float]], list[float]]:
    run: dict[str, dict[str, float]] = {}
    times: list[float] = []
    depth = min(chunk_k, max(1, spec.candidates)) if reranker else chunk_k
    for query in queryset.queries.values():
        t0 = time.perf_counter()
        try:
            result = searcher.search(query.text, k=depth, mode=spec.mode, reranker=reranker, candidates=depth)
            hits: tuple[Hit, ...] = result.hits
        except QueryError:
            hits = ()
        folded = fold_hits(hits, hit_doc_id)
        times.append((time.perf_counter() - t0) * 1000)
        run[query.qid] = dict(list(folded.items())[:k])
        tracker.advance(1, f"{spec.label}: query {len(times)}/{len(queryset.queries)}")
    return run, times
