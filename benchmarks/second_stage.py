"""Second stages on XQuAD: dense vs sparse vs hybrid (RRF, DBSF) vs rerankers, per language, with latency.

Why: "optional reranking" and hybrid search must be shown to help, per language,
and what they cost per query. Everything runs through the app's own path: the
corpus is indexed into a real store (embedded Qdrant edge by default) with the
default model's dense vectors and subword-BM25 sparse vectors, and queries go
through ``Searcher.search``, so fusion happens inside Qdrant exactly as in the UI.

Setups (search.evaluation.querysets, MTEB XQuADRetrieval protocol):
* same-language: questions in L -> the paragraphs in L;
* cross-lingual: questions in L -> the paragraphs in the pivot language (en).

Pipelines: ``dense``; ``sparse`` (BM25 over the model's subword ids, IDF from
Qdrant); ``hybrid-rrf`` (reciprocal rank fusion, Qdrant's k=2); ``hybrid-rrf-w0.5``
(the same with the sparse list at half weight: the app's default hybrid);
``hybrid-dbsf`` (distribution-based score fusion); and ``<first>+<reranker>`` for each
``--rerankers`` model available offline. Quality uses every query, embedded in
batches once; latency p50 is end-to-end ``Searcher.search`` time (query
embedding included) over the first ``--latency-queries`` queries of each run.
The baseline for every ratio is ``dense`` in the same run.

    python -m benchmarks.second_stage --langs en,de --limit 30 --latency-queries 10   # smoke run
    nice python -m benchmarks.second_stage --langs en,de,zh,ar,hi,th
    python -m benchmarks.second_stage --rerankers mmarco-minilm,/path/to/bge-reranker-v2-m3
    python -m benchmarks.second_stage --langs en,de,zh,ar --split dev --weights 0.25,0.75   # choose the weight
    python -m benchmarks.second_stage --langs en,de,zh,ar --split test                      # report it

The hybrid sparse weight (DEFAULT_SPARSE_WEIGHT) is chosen with ``--split dev`` (XQuAD
articles 0-23) and reported with ``--split test`` (articles 24-47; benchmarks.splits).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.common import evaldata_dir, format_table
from benchmarks.splits import SPLITS, article_split
from search.core.types import CorpusDoc, Hit, QuerySet
from search.evaluation.metrics import evaluate
from search.evaluation.report import EvalReport
from search.evaluation.xquad import xquad_cross_lingual, xquad_same_language
from search.models.embedder import Embedder
from search.models.loading import load_embedder
from search.models.reranker import Reranker
from search.models.specs import DEFAULT_MODEL, ModelSpec
from search.retrieval.searcher import DEFAULT_SPARSE_WEIGHT, Mode, Searcher, clean_query
from search.space.vector_space import VectorSpace
from search.stores.base import CollectionMeta, FusionMethod, Point, VectorStore
from search.text.bm25 import SubwordBM25Encoder
from search.text.sparse import SparseEncoder

METRICS = ("ndcg@10", "mrr@10")
DEFAULT_LANGS = "en,de,zh,ar,hi,th"
K = 10
WRITE_BATCH = 256


@dataclass(frozen=True)
class Pipeline:
    name: str
    mode: Mode
    fusion: FusionMethod = "rrf"
    sparse_weight: float = 1.0
    reranker: Reranker | None = None

    def search(self, searcher: Searcher, text: str, candidates: int) -> tuple[Hit, ...]:
        return searcher.search(
            text,
            k=K,
            mode=self.mode,
            fusion=self.fusion,
            sparse_weight=self.sparse_weight,
            reranker=self.reranker,
            candidates=candidates,
        ).hits


FIRST_STAGES: tuple[Pipeline, ...] = (
    Pipeline("dense", "dense"),
    Pipeline("sparse", "sparse"),
    Pipeline("hybrid-rrf", "hybrid", fusion="rrf"),
    Pipeline(
        f"hybrid-rrf-w{DEFAULT_SPARSE_WEIGHT:g}", "hybrid", "rrf", DEFAULT_SPARSE_WEIGHT
    ),  # the app's default
    Pipeline("hybrid-dbsf", "hybrid", fusion="dbsf"),
)
BASELINE = "dense"


class PrecomputedQueries:
    """The embedder with query vectors looked up from a batch run: quality runs skip 1-by-1 embedding."""

    def __init__(self, embedder: Embedder, vectors: Mapping[str, np.ndarray]) -> None:
        self._embedder = embedder
        self._vectors = vectors

    @property
    def spec(self) -> ModelSpec:
        return self._embedder.spec

    def encode_queries(self, texts: Sequence[str], task: str | None = None) -> np.ndarray:
        return np.stack([self._vectors[t] for t in texts])

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self._embedder.encode_documents(texts)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return self._embedder.count_tokens(texts)

    def document_overhead(self) -> int:
        return self._embedder.document_overhead()


class Bench:
    """One store, one model, one sparse encoder; corpora indexed once, texts embedded once."""

    def __init__(self, embedder: Embedder, sparse: SparseEncoder, store: VectorStore) -> None:
        self.embedder = embedder
        self.sparse = sparse
        self.store = store
        self._collections: dict[tuple[str, ...], str] = {}
        self._query_vectors: dict[str, np.ndarray] = {}

    def collection(self, corpus: Mapping[str, CorpusDoc]) -> str:
        key = tuple(sorted(corpus))
        if key not in self._collections:
            name = f"xquad-{len(self._collections)}"
            docs = list(corpus.values())
            self.store.create_collection(name, CollectionMeta.for_model(self.embedder.spec, self.sparse.name))
            for start in range(0, len(docs), WRITE_BATCH):
                batch = docs[start : start + WRITE_BATCH]
                texts = [d.text for d in batch]
                vectors = self.embedder.encode_documents(texts)
                sparse = self.sparse.encode_documents(texts)
                self.store.upsert(
                    name,
                    [
                        Point(id=_point_id(d.doc_id), vector=v, payload=_payload(d), sparse=s)
                        for d, v, s in zip(batch, vectors, sparse)
                    ],
                )
            self.store.optimize(name)
            self._collections[key] = name
        return self._collections[key]

    def embed_queries(self, texts: Sequence[str]) -> None:
        missing = list(dict.fromkeys(t for t in texts if t not in self._query_vectors))
        if missing:
            for text, vector in zip(missing, self.embedder.encode_queries(missing)):
                self._query_vectors[text] = vector

    def run(
        self, qs: QuerySet, pipelines: Sequence[Pipeline], latency_queries: int, candidates: int
    ) -> EvalReport:
        name = self.collection(qs.corpus)
        queries = [(qid, clean_query(q.text)) for qid, q in qs.queries.items()]
        self.embed_queries([text for _, text in queries])
        fast = Searcher(
            self.store,
            name,
            VectorSpace(PrecomputedQueries(self.embedder, self._query_vectors), sparse=self.sparse),
        )
        live = Searcher(self.store, name, VectorSpace(self.embedder, sparse=self.sparse))
        runs: dict[str, dict[str, dict[str, float]]] = {}
        latencies: dict[str, list[float]] = {}
        for p in pipelines:
            runs[p.name] = {qid: _run_of(p.search(fast, text, candidates)) for qid, text in queries}
            latencies[p.name] = []
            for _, text in queries[:latency_queries]:
                t0 = time.perf_counter()
                p.search(live, text, candidates)
                latencies[p.name].append((time.perf_counter() - t0) * 1000)
        return evaluate(qs, runs, METRICS, latencies_ms=latencies)


def _point_id(doc_id: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"xquad:{doc_id}"))


def _payload(doc: CorpusDoc) -> dict[str, object]:
    return {"text": doc.text, "source": doc.doc_id, "root": "", "language": doc.language, "position": 0}


def _run_of(hits: Sequence[Hit]) -> dict[str, float]:
    return {hit.source: hit.score for hit in hits}


# ---- tables ---------------------------------------------------------------------------------------


def language_rows(lang: str, report: EvalReport) -> list[list[object]]:
    base = report.overall[BASELINE]["ndcg@10"]
    rows: list[list[object]] = []
    for name in report.pipelines:
        scores = report.overall[name]
        latency = report.latency.get(name)
        rows.append(
            [
                lang,
                name,
                100 * scores["ndcg@10"],
                100 * scores["mrr@10"],
                f"{100 * (scores['ndcg@10'] - base):+.2f}",
                latency.p50_ms if latency else None,
            ]
        )
    return rows


def summary_rows(reports: Mapping[str, EvalReport]) -> list[list[object]]:
    """Mean over languages per pipeline, with the ratio to dense and the languages where it lost to dense."""
    if not reports:
        return []
    pipelines = next(iter(reports.values())).pipelines
    rows: list[list[object]] = []
    base = statistics.fmean(r.overall[BASELINE]["ndcg@10"] for r in reports.values())
    for name in pipelines:
        ndcg = statistics.fmean(r.overall[name]["ndcg@10"] for r in reports.values())
        mrr = statistics.fmean(r.overall[name]["mrr@10"] for r in reports.values())
        p50 = [r.latency[name].p50_ms for r in reports.values() if name in r.latency]
        worse = [
            lang
            for lang, r in reports.items()
            if r.overall[name]["ndcg@10"] < r.overall[BASELINE]["ndcg@10"] - 1e-9
        ]
        rows.append(
            [
                name,
                100 * ndcg,
                100 * mrr,
                f"{ndcg / base:.3f}",
                statistics.median(p50) if p50 else None,
                ",".join(worse) or "-",
            ]
        )
    return rows


def significance_lines(reports: Mapping[str, EvalReport], other: str) -> list[str]:
    lines = []
    for lang, report in reports.items():
        comparison = report.comparison(BASELINE, other, "ndcg@10")
        if comparison is not None:
            lines.append(
                f"  {lang}: {other} - {BASELINE} = {100 * comparison.delta:+.2f} nDCG@10, "
                f"p={comparison.p:.3g} ({report.stat_test}, Holm-adjusted), "
                f"wins/ties/losses {comparison.wins}/{comparison.ties}/{comparison.losses}"
            )
    return lines


LANG_HEADERS = ("lang", "pipeline", "nDCG@10", "MRR@10", "d nDCG vs dense", "p50 ms")
SUMMARY_HEADERS = ("pipeline", "nDCG@10", "MRR@10", "ratio vs dense", "p50 ms (median)", "loses to dense in")


def print_setup(title: str, reports: Mapping[str, EvalReport]) -> None:
    print(f"\n== {title} ==")
    rows = [row for lang, report in reports.items() for row in language_rows(lang, report)]
    print(format_table(LANG_HEADERS, rows))
    print(f"\n-- {title}: mean over {len(reports)} languages (baseline: {BASELINE}, same run) --")
    print(format_table(SUMMARY_HEADERS, summary_rows(reports)))
    for name in [p for p in next(iter(reports.values())).pipelines if p.startswith("hybrid")]:
        lines = significance_lines(reports, name)
        if lines:
            print(f"paired test, {name} vs {BASELINE}:")
            print("\n".join(lines))


# ---- main -----------------------------------------------------------------------------------------


@contextmanager
def open_bench_store(backend: str) -> Iterator[VectorStore]:
    if backend == "memory":
        from search.stores.client import ClientStore

        store: VectorStore = ClientStore(":memory:")
        try:
            yield store
        finally:
            store.close()
        return
    from search.stores.edge import EdgeStore

    with tempfile.TemporaryDirectory(prefix="second-stage-") as folder:
        store = EdgeStore(Path(folder))
        try:
            yield store
        finally:
            store.close()


def load_rerankers(names: Sequence[str], device: str | None) -> list[Reranker]:
    from search.core.errors import ModelNotAvailableError, UnknownModelError
    from search.models.loading import load_reranker

    loaded = []
    for name in names:
        try:
            loaded.append(load_reranker(name, device=device))
        except (ModelNotAvailableError, UnknownModelError, OSError, ValueError) as exc:
            print(f"reranker {name!r} skipped: {exc}", file=sys.stderr)
    return loaded


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--langs", default=DEFAULT_LANGS, help="comma-separated XQuAD languages")
    parser.add_argument("--pivot", default="en", help="document language of the cross-lingual setup")
    parser.add_argument(
        "--limit", type=int, default=None, help="first N paragraphs per language (smoke runs)"
    )
    parser.add_argument("--latency-queries", type=int, default=100, help="queries timed end to end per run")
    parser.add_argument("--rerankers", default="", help="comma-separated reranker names, hub ids or folders")
    parser.add_argument(
        "--rerank-first", default=FIRST_STAGES[3].name, choices=[p.name for p in FIRST_STAGES]
    )
    parser.add_argument("--candidates", type=int, default=30, help="first-stage hits a reranker re-scores")
    parser.add_argument("--backend", choices=("edge", "memory"), default="edge")
    parser.add_argument("--no-cross", action="store_true", help="skip the cross-lingual setup")
    parser.add_argument("--device", default=None)
    parser.add_argument(
        "--split",
        choices=SPLITS,
        default="all",
        help="XQuAD articles: dev (0-23, choose), test (24-47, report)",
    )
    parser.add_argument(
        "--weights",
        default="",
        help="extra RRF sparse weights to compare, e.g. 0.25,0.75 (choose on --split dev)",
    )
    args = parser.parse_args(argv)

    data = evaldata_dir()
    langs = [lang.strip() for lang in args.langs.split(",") if lang.strip()]
    embedder = load_embedder(args.model, device=args.device)
    sparse = SubwordBM25Encoder.for_embedder(embedder)
    first = {p.name: p for p in FIRST_STAGES}[args.rerank_first]
    extra = [
        Pipeline(f"hybrid-rrf-w{float(w):g}", "hybrid", "rrf", float(w))
        for w in args.weights.split(",")
        if w and f"hybrid-rrf-w{float(w):g}" not in {p.name for p in FIRST_STAGES}
    ]
    pipelines = (
        list(FIRST_STAGES)
        + extra
        + [
            Pipeline(f"{first.name}+{r.name}", first.mode, first.fusion, first.sparse_weight, r)
            for r in load_rerankers([n for n in args.rerankers.split(",") if n], args.device)
        ]
    )
    print(
        f"model {embedder.spec.name}; sparse {sparse.name}; store {args.backend}; k={K}; "
        f"paragraph limit {args.limit or 'none'}; XQuAD articles: {args.split}; latency over the first {args.latency_queries} queries per run"
    )
    started = time.perf_counter()
    with open_bench_store(args.backend) as store:
        bench = Bench(embedder, sparse, store)
        same: dict[str, EvalReport] = {}
        for lang in langs:
            t0 = time.perf_counter()
            same[lang] = bench.run(
                article_split(xquad_same_language(data, lang, limit=args.limit), args.split),
                pipelines,
                args.latency_queries,
                args.candidates,
            )
            print(f"[{lang}] same-language done in {time.perf_counter() - t0:.0f}s", file=sys.stderr)
        print_setup("same-language: questions in L -> paragraphs in L", same)
        if not args.no_cross:
            cross: dict[str, EvalReport] = {}
            for lang in langs:
                if lang == args.pivot:
                    continue
                qs = article_split(
                    xquad_cross_lingual(data, [lang], [args.pivot], limit=args.limit), args.split
                )
                cross[f"{lang}->{args.pivot}"] = bench.run(
                    qs, pipelines, args.latency_queries, args.candidates
                )
            if cross:
                print_setup(f"cross-lingual: questions in L -> paragraphs in {args.pivot}", cross)
    print(f"\ntotal {time.perf_counter() - started:.0f}s (timings are wall clock on this machine)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
