"""Evaluate retrieval pipelines end to end on a labeled query set.

Each model indexes the query set's corpus with the app's own chunking and
embedding into a scratch store (EvalWorkspace), then the judged queries go through the
app's Searcher (dense / sparse / hybrid, optional reranker) in batches: one
embedding call and one Qdrant batch query per QUERY_BATCH queries, the hits the
one-by-one search returns; chunk hits are folded to documents and scored by
search.evaluation.metrics. So the numbers measure the product, not a separate
benchmark path, at the speed of batched embedding rather than ~200 ms per query.
Queries and documents are embedded through the persistent embedding cache, so a
second run on the same set embeds nothing. Queries without a relevant document
are skipped (and counted by the report).

The scratch indexes live on an ``EvalWorkspace`` that the caller owns (the UI
keeps one per session), so comparing a second reranker on the same model does
not re-embed the corpus.
"""

from __future__ import annotations

import hashlib
import math
import re
import tempfile
import threading
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self, cast

import numpy as np

from search.application.ports import Indexer
from search.application.services import Services
from search.application.variants import (
    CORRECTIONS,
    Correction,
    check_correction,
    check_prompt,
    expand_prompts,
    parse_corrections,
    prompt_record,
    query_embedder,
    searched_correction,
    variant_suffix,
)
from search.core.errors import InputError, QueryError, QuerySetError
from search.core.memory import release_memory
from search.core.reports import IndexReport
from search.core.settings import IndexOptions
from search.core.types import SECTION_SEPARATOR, CorpusDoc, Document, Hit, Query, QuerySet, Section
from search.evaluation.leaderboard import LEADERBOARD_HEADERS as LEADERBOARD_HEADERS
from search.evaluation.leaderboard import LeaderboardRow as LeaderboardRow
from search.evaluation.leaderboard import leaderboard_rows as leaderboard_rows
from search.evaluation.metrics import DEFAULT_METRICS, evaluate, fold_hits, judged_queries
from search.evaluation.querysets import load_queryset as load_queryset
from search.evaluation.querysets import queryset_source
from search.evaluation.report import PRIMARY_METRIC as PRIMARY_METRIC
from search.evaluation.report import EvalReport
from search.evaluation.report import metric_label as metric_label
from search.models.embedder import Embedder
from search.models.reranker import Reranker
from search.retrieval.searcher import (
    DEFAULT_FUSION,
    DEFAULT_SPARSE_WEIGHT,
    MAX_K,
    MODES,
    Mode,
    Searcher,
    clean_query,
)
from search.space.vector_space import VectorSpace
from search.stores.base import FUSION_METHODS, FusionMethod, VectorStore

# The "X as X" imports above are re-exported for the UI, which reaches search.evaluation only through
# this layer (an import-linter contract).
ProgressCallback = Callable[[float, str], None]
EVAL_ROOT = "/queryset"  # virtual folder the corpus documents are "indexed from": hit.relpath == doc id
# Queries per Searcher.search_batch call: large enough that embedding and Qdrant work in
# batches, small enough for frequent progress and bounded memory (256 x 100 hits with text).
QUERY_BATCH = 256


@dataclass(frozen=True)
class PipelineSpec:
    """One retrieval pipeline to evaluate: a model, a first stage and an optional reranker, and the
    variant of the model's vectors and query prompt (search.application.variants)."""

    model: str
    mode: Mode = "dense"
    reranker: str | None = None
    candidates: int = 50  # first-stage chunks a reranker re-scores (its ranking is cut there)
    correction: Correction | None = None  # raw / corrected / vote; None: the model's default, unnamed
    query_prompt: str | None = None  # None: the registry's; an instruction for an instruction template
    # How hybrid merges its two lists (the app's defaults unless a benchmark compares others).
    fusion: FusionMethod = DEFAULT_FUSION
    sparse_weight: float = DEFAULT_SPARSE_WEIGHT

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise InputError(f"Unknown mode {self.mode!r}; use one of {MODES}.")
        if self.fusion not in FUSION_METHODS:
            raise InputError(f"Unknown fusion {self.fusion!r}; use one of {FUSION_METHODS}.")
        if not 0 <= self.sparse_weight <= 10:
            raise InputError(f"The sparse weight must be between 0 and 10, not {self.sparse_weight:g}.")
        if self.correction is not None:
            parse_corrections([self.correction])

    @property
    def label(self) -> str:
        """Short unique name for tables: the model alone for plain dense search with its own settings,
        the variant in brackets ("multilingual-e5-small [raw]")."""
        label = self.model
        if self.mode != "dense" or self.reranker:
            label += f"/{self.mode}"
        if self.mode == "hybrid" and (self.fusion, self.sparse_weight) != (
            DEFAULT_FUSION,
            DEFAULT_SPARSE_WEIGHT,
        ):
            label += f"({self.fusion}, sparse x{self.sparse_weight:g})"
        if self.reranker:
            label += f"+{self.reranker.rstrip('/').rsplit('/', 1)[-1]}"
        return label + variant_suffix(self.correction, self.query_prompt)


@dataclass(frozen=True)
class IndexedCorpus:
    """A query set's corpus, chunked and embedded by one model into the workspace store."""

    collection: str
    model: str
    sparse: str | None
    documents: int
    chunks: int
    report: IndexReport


def pipeline_grid(
    models: Sequence[str],
    modes: Sequence[str],
    rerankers: Sequence[str] = (),
    corrections: Sequence[str] = (),
    prompts: Sequence[str] = (),
    *,
    variants_of: Callable[[str], tuple[Correction, ...]] | None = None,
    prompted: Callable[[str], bool] | None = None,
) -> list[PipelineSpec]:
    """Every model x mode x correction x query prompt, each without a second stage and then with each
    reranker: the pipelines ``app.py eval`` and the Evaluate tab run for the same choices.

    ``corrections`` empty: each model's default, unnamed. ``prompts``: each one is a row beside the
    model's own prompt. ``variants_of(model)`` (the corrections a model can have) and
    ``prompted(model)`` (whether it takes a prompt) keep a model from rows it cannot have: USE gets
    ``raw`` only, not three copies of one pipeline (``grid_notes`` says so).
    """
    named = parse_corrections(corrections)
    out = []
    for model in models:
        allowed = variants_of(model) if variants_of else CORRECTIONS
        chosen: list[Correction | None] = [c for c in named if c in allowed] or (
            [allowed[0]] if named else [None]
        )
        own_prompts = (
            expand_prompts(prompts) if (prompts and (prompted is None or prompted(model))) else (None,)
        )
        out += [
            PipelineSpec(
                model=model,
                mode=cast(Mode, mode),
                reranker=reranker,
                correction=correction,
                query_prompt=prompt,
            )
            for mode in modes
            for correction in mode_variants(mode, chosen)
            for prompt in (own_prompts if mode != "sparse" else (None,))
            for reranker in (None, *rerankers)
        ]
    return list(dict.fromkeys(out))


def mode_variants(mode: str, chosen: Sequence[Correction | None]) -> list[Correction | None]:
    """The correction variants that differ in ``mode``, by the rule search rows report with
    (variants.searched_correction): sparse (lexical) search reads no dense vector (one row,
    unnamed); the vote runs in dense mode only, so hybrid's "vote" is its "corrected"."""
    if mode == "sparse":
        return [None]
    return list(
        dict.fromkeys(None if c is None else cast(Correction, searched_correction(mode, c)) for c in chosen)
    )


def grid_notes(
    models: Sequence[str],
    corrections: Sequence[str],
    prompts: Sequence[str],
    *,
    variants_of: Callable[[str], tuple[Correction, ...]],
    prompted: Callable[[str], bool],
) -> list[str]:
    """One line per model that does not get every variant asked for, saying why."""
    named = parse_corrections(corrections)
    notes = []
    for model in models:
        missing = [c for c in named if c not in variants_of(model)]
        if missing:
            notes.append(
                f"{model} has no language correction: evaluated as 'raw' only (not {', '.join(missing)})."
            )
        if prompts and not prompted(model):
            notes.append(f"{model} embeds queries without a prompt: evaluated with no prompt only.")
    return notes


@dataclass(frozen=True)
class EvalFiles:
    """What an evaluation run leaves in its output folder, the same from the CLI and the UI."""

    report: Path  # report.json
    metrics: Path  # bars per metric and pipeline
    query_languages: Path  # nDCG@10 by query language and pipeline
    document_languages: Path  # ... by document language

    def all(self) -> tuple[Path, ...]:
        return (self.report, self.metrics, self.query_languages, self.document_languages)


def write_eval_files(report: EvalReport, out: Path) -> EvalFiles:
    """The report as JSON and its charts, in ``out`` (created)."""
    import json

    from search.evaluation.plots import plot_language_heatmap, plot_report

    out.mkdir(parents=True, exist_ok=True)
    path = out / "report.json"
    path.write_text(json.dumps(report.to_json(), ensure_ascii=False, indent=2), encoding="utf-8")
    return EvalFiles(
        report=path,
        metrics=plot_report(report, out / "metrics.png"),
        query_languages=plot_language_heatmap(report, out / "query_languages.png", by="query"),
        document_languages=plot_language_heatmap(report, out / "document_languages.png", by="document"),
    )


class EvalWorkspace:
    """Scratch indexes of query-set corpora, one per (corpus, model, sparse encoder), reused across runs.

    Owns its store, never the app's: evaluation must not add collections to the user's
    index. By default the embedded engine in a temporary folder, removed on close:
    without optimize() it builds no HNSW graph, so every search is exact; its batch
    queries are planned together and its deletes use payload indexes. (qdrant-client's
    local mode, the earlier default, scans every payload for each of the indexer's
    per-document deletes and searches in Python: 10.8 s instead of 3.8 s for a 1000 x
    1000 set whose vectors were cached.)
    """

    def __init__(
        self,
        indexer: Indexer,
        store: VectorStore | None = None,
        *,
        ann: bool = False,
        chunk_tokens: int | None = None,
    ) -> None:
        """``ann``: build the search index (int8 copies, scanned and rescored) as an index run of the app
        does and search through it, so the figures include what the index loses (issue 22); by default
        every search is exact. ``chunk_tokens``: the longest chunk (None: the indexer's default), e.g.
        the model's whole input for a benchmark protocol that embeds each document whole (MTEB)."""
        self._folder: tempfile.TemporaryDirectory[str] | None = None
        if store is None:
            from search.stores.edge import EdgeStore

            self._folder = tempfile.TemporaryDirectory(prefix="mlsearch-eval-")
            store = EdgeStore(Path(self._folder.name))
        self.store = store
        self.indexer = indexer
        self.options = IndexOptions(chunk_tokens=chunk_tokens, optimize=ann)  # without the index: exact
        self.search_index = "ann" if ann else "exact"
        self._indexed: dict[tuple[str, str, str | None], IndexedCorpus] = {}
        self._lock = threading.Lock()

    def disk_bytes(self, collection: str) -> int | None:
        """What a scratch collection takes on disk (vectors, payloads; no HNSW graph: search is exact)."""
        measure = getattr(self.store, "disk_bytes", None)
        return measure(collection) if callable(measure) else None

    def indexed(
        self,
        queryset: QuerySet,
        space: VectorSpace,
        progress: Callable[[int, int], None] | None = None,
    ) -> IndexedCorpus:
        """The corpus indexed in ``space`` (its model, sparse encoder and correction), built on first use."""
        fingerprint = corpus_fingerprint(queryset)
        sparse = space.sparse
        variant = f"{sparse.name if sparse else None}|{space.names}"
        key = (fingerprint, space.spec.name, variant)
        with self._lock:
            if key in self._indexed:
                return self._indexed[key]
            collection = _collection_name(fingerprint, space.spec.name, variant)
            if self.store.get_meta(collection) is not None:  # a half-built index from a cancelled run
                self.store.drop_collection(collection)
            documents = corpus_documents(queryset)
            report = self.indexer.index_documents(
                documents,
                space,
                self.store,
                collection,
                options=self.options,
                progress=(lambda p: progress(p.files_done, p.files_total)) if progress else None,
            )
            entry = IndexedCorpus(
                collection=collection,
                model=space.spec.name,
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
        if self._folder is not None:
            self._folder.cleanup()
            self._folder = None

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
    """One fraction over the whole run (indexing counts documents, searching counts queries) and
    the stage in words: 'loading the model ...', 'indexing ... 300/1000', 'searching ... 512/1000'."""

    callback: ProgressCallback | None
    total: int
    done: int = 0
    last: float = field(default=-1.0)

    def advance(self, units: int, message: str) -> None:
        self.done += units
        self.report(message)

    def stage(self, message: str) -> None:
        """A new stage: shown at once, whatever the fraction."""
        self.report(message, force=True)

    def indexing(self, model: str) -> Callable[[int, int], None]:
        """Progress of one model's indexing, counted from where the tracker stands now."""
        base = self.done

        def update(done: int, total: int) -> None:
            self.done = base + done
            self.report(f"indexing the corpus with {model}: {done}/{total} documents")

        return update

    def report(self, message: str, force: bool = False) -> None:
        if self.callback is None:
            return
        fraction = min(1.0, self.done / self.total) if self.total else 1.0
        if force or fraction - self.last >= 0.005 or fraction >= 1.0:  # at most ~200 updates per run
            self.last = fraction
            self.callback(fraction, message)


def check_queryset(queryset: QuerySet) -> list[Query]:
    """The judged queries; refuses a set that cannot be evaluated before any model is loaded."""
    if not queryset.corpus:
        raise QuerySetError(f"Query set {queryset.name!r} has no documents.")
    judged = judged_queries(queryset)
    if not judged:
        raise QuerySetError(f"Query set {queryset.name!r} has no query with a relevant document.")
    return judged


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
    in_use: Callable[[], Collection[str]] | None = None,
) -> EvalReport:
    """Index the corpus per model (cached on ``workspace``), run the judged queries in batches, score the runs.

    Models the evaluation loaded are dropped after their turn, unless they were loaded before it or
    ``in_use()`` names them then (a search of the app started meanwhile: dropping the model it holds
    would load a second copy on next use).

    Pipelines whose mode needs a sparse encoder, or whose reranker is not available,
    are refused before any work starts, with a message naming them. ``k`` documents
    are kept per query (chunk results are fetched deep enough to fill them).
    """
    judged = check_queryset(queryset)
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
    # Each pipeline's correction, and its query prompt applied to the spec: refused before any work.
    variant = {p: check_correction(services, p.model, p.correction) for p in unique}
    for p in unique:
        check_prompt(services.spec(p.model), p.query_prompt)
    # Corrected and vote pipelines search one index (the vote is query-side); raw ones their own.
    indexes = {(p.model, variant[p] == "raw") for p in unique}
    embeddings = {(p.model, p.query_prompt) for p in unique if p.mode != "sparse"}
    n_docs, n_queries = len(queryset.corpus), len(judged)
    tracker = _Progress(progress, total=len(indexes) * n_docs + (len(embeddings) + len(unique)) * n_queries)
    tracker.stage(f"loading {'the model' if len(models) == 1 else 'models'} ({', '.join(models)})")
    rerankers = {p.reranker: services.reranker(p.reranker) for p in unique if p.reranker}
    _check_sparse(services, unique)
    loaded_before = services.loaded_models()  # models this evaluation loads are dropped after their turn

    def droppable(model: str) -> bool:
        # Compared by canonical name: an alias ("default") must not unload the app's own model.
        name = services.spec(model).name
        return name not in loaded_before and name not in (in_use() if in_use else ())

    own_workspace = workspace is None
    scratch = workspace or EvalWorkspace(services.indexer)
    texts = _cleaned(judged)
    runs: dict[str, dict[str, dict[str, float]]] = {}
    latencies: dict[str, list[float]] = {}
    details: dict[str, dict[str, Any]] = {}
    try:
        for model in models:
            tracker.stage(f"loading the model {model}")
            # Behind the persistent cache (queries too); sparse vectors whenever an encoder exists.
            stored = services.space(model, document=True)
            embedder = stored.embedder
            queries: dict[str | None, tuple[np.ndarray, float]] = {}  # per prompt: shared by every variant
            mine = [p for p in unique if p.model == model]
            for raw in dict.fromkeys(variant[p] == "raw" for p in mine):
                name = f"{model}{' (raw vectors)' if raw else ''}"
                tracker.stage(f"indexing the corpus with {name}: 0/{n_docs} documents")
                t0 = time.perf_counter()
                indexed_before = tracker.done
                space = stored.uncorrected() if raw else stored
                corpus = scratch.indexed(queryset, space, progress=tracker.indexing(name))
                tracker.done = indexed_before + n_docs  # all of it, also when the index was cached
                index_seconds = round(time.perf_counter() - t0, 2)
                searcher = Searcher(scratch.store, corpus.collection, space)
                chunk_k = chunk_depth(k, corpus.chunks, corpus.documents)
                for spec in (p for p in mine if (variant[p] == "raw") == raw):
                    prompted = query_embedder(embedder, spec.query_prompt)
                    vectors, embed_seconds = None, 0.0
                    if spec.mode != "sparse":
                        if spec.query_prompt not in queries:
                            label = model + variant_suffix(None, spec.query_prompt)
                            queries[spec.query_prompt] = _embed_queries(prompted, texts, label, tracker)
                        vectors, embed_seconds = queries[spec.query_prompt]
                    reranker = rerankers.get(spec.reranker) if spec.reranker else None
                    pipeline = searcher.with_queries(prompted)
                    if variant[spec] == "corrected":
                        pipeline = pipeline.without_vote()
                    tracker.stage(f"searching with {spec.label}: 0/{n_queries} queries")
                    run, times = run_pipeline(
                        pipeline,
                        judged,
                        spec,
                        reranker,
                        chunk_k,
                        k,
                        vectors=vectors,
                        texts=texts,
                        tracker=tracker,
                    )
                    shared_ms = 0.0 if spec.mode == "sparse" else embed_seconds * 1000 / n_queries
                    runs[spec.label] = run
                    latencies[spec.label] = [t + shared_ms for t in times]
                    details[spec.label] = {
                        "model": model,
                        "mode": spec.mode,
                        "reranker": spec.reranker,
                        # raw / corrected / vote as searched (hybrid has no vote; sparse reads no dense vector)
                        "correction": searched_correction(spec.mode, variant[spec]),
                        **prompt_record(embedder.spec, spec.query_prompt),
                        "documents": corpus.documents,
                        "chunks": corpus.chunks,
                        "index_seconds": index_seconds,  # 0 when the workspace already held the index
                        "embed_queries_seconds": round(embed_seconds, 2),  # shared by the model's pipelines
                        "search_seconds": round(sum(times) / 1000, 2),
                        "query_batch": QUERY_BATCH,
                        "documents_per_second": round(corpus.documents / index_seconds, 1)
                        if index_seconds
                        else None,
                        "index_bytes": scratch.disk_bytes(corpus.collection),
                        "search_index": scratch.search_index,  # "exact", or "ann": through the app's own search index
                        "dimension": embedder.spec.dimension,
                        # Query languages the model was not trained on: their scores are flagged, not trusted.
                        "unsupported_query_languages": sorted(
                            {q.language for q in judged if not embedder.spec.supports(q.language)}
                        ),
                        "cross_lingual": embedder.spec.cross_lingual,
                    }
            del embedder, stored, space, searcher, prompted, pipeline
            if droppable(model):  # three models held at once: 2.0 GB
                services.unload(model)
                release_memory()
    finally:
        if own_workspace:
            scratch.close()
        for model in models:  # a failed or cancelled run drops what it loaded too
            if droppable(model):
                services.unload(model)
    # ranx compiles its metrics (numba, cached on disk) the first time an installation scores: ~30 s once,
    # unless the app's first launch compiled them in the background (search.application.metric_warmup)
    tracker.stage(
        "scoring with ranx (the first evaluation of an installation compiles its metrics: ~30 s, once)"
    )
    return evaluate(
        queryset,
        runs,
        metrics,
        latencies_ms=latencies,
        stat_test=stat_test,
        details=details,
        source=queryset_source(queryset),
    )


def _check_sparse(services: Services, pipelines: Sequence[PipelineSpec]) -> None:
    """Refuse sparse and hybrid pipelines before any work when the app has no sparse encoder."""
    for spec in pipelines:
        if spec.mode != "dense" and not services.has_sparse_encoder:
            raise InputError(
                f"Pipeline {spec.label!r} needs sparse (lexical) vectors, but this app has no sparse encoder "
                "configured; evaluate it in dense mode, or build Services with a sparse_factory."
            )


def chunk_depth(k: int, chunks: int, documents: int) -> int:
    """Chunks to fetch so that, after folding, about ``k`` distinct documents remain."""
    per_doc = max(1, math.ceil(chunks / max(1, documents)))
    return max(1, min(MAX_K, k * per_doc, max(chunks, 1)))


def _cleaned(queries: Sequence[Query]) -> list[str | None]:
    """Each query as the Searcher would search it; None for one it would refuse (it finds nothing)."""
    out: list[str | None] = []
    for query in queries:
        try:
            out.append(clean_query(query.text))
        except QueryError:
            out.append(None)
    return out


def _embed_queries(
    embedder: Embedder, texts: Sequence[str | None], model: str, tracker: _Progress
) -> tuple[np.ndarray, float]:
    """Every query embedded once per model, in batches (dense and hybrid runs share them)."""
    started = time.perf_counter()
    vectors = np.zeros((len(texts), embedder.spec.dimension), dtype=np.float32)
    for start in range(0, len(texts), QUERY_BATCH):
        rows = [r for r in range(start, min(start + QUERY_BATCH, len(texts))) if texts[r] is not None]
        if rows:
            vectors[rows] = embedder.encode_queries([texts[r] or "" for r in rows])
        done = min(start + QUERY_BATCH, len(texts))
        tracker.advance(done - start, f"embedding the queries with {model}: {done}/{len(texts)}")
    return vectors, time.perf_counter() - started


def run_pipeline(
    searcher: Searcher,
    queries: Sequence[Query],
    spec: PipelineSpec,
    reranker: Reranker | None,
    chunk_k: int,
    k: int,
    *,
    vectors: np.ndarray | None = None,
    texts: Sequence[str | None] | None = None,
    tracker: _Progress | None = None,
) -> tuple[dict[str, dict[str, float]], list[float]]:
    """One pipeline's run (query id -> document id -> score, best first) and per-query milliseconds.

    Queries go to ``Searcher.search_batch`` QUERY_BATCH at a time; ``vectors`` (row i for
    query i) are the queries already embedded. The hits are those ``Searcher.search``
    returns for each query alone; times are each batch's per query.
    """
    texts = list(texts) if texts is not None else _cleaned(queries)
    depth = min(chunk_k, max(1, spec.candidates)) if reranker else chunk_k
    run: dict[str, dict[str, float]] = {}
    times: list[float] = []
    for start in range(0, len(queries), QUERY_BATCH):
        block = range(start, min(start + QUERY_BATCH, len(queries)))
        rows = [r for r in block if texts[r] is not None]
        t0 = time.perf_counter()
        results = searcher.search_batch(
            [texts[r] or "" for r in rows],
            k=depth,
            mode=spec.mode,
            reranker=reranker,
            candidates=depth,
            fusion=spec.fusion,
            sparse_weight=spec.sparse_weight,
            vectors=None if vectors is None else vectors[rows],
        )
        hits: dict[int, tuple[Hit, ...]] = {r: result.hits for r, result in zip(rows, results)}
        for r in block:
            folded = fold_hits(hits.get(r, ()), hit_doc_id)
            run[queries[r].qid] = dict(list(folded.items())[:k])
        elapsed = (time.perf_counter() - t0) * 1000
        times.extend([elapsed / len(block)] * len(block))
        if tracker is not None:
            tracker.advance(
                len(block), f"searching with {spec.label}: {block[-1] + 1}/{len(queries)} queries"
            )
    return run, times
