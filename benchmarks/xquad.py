"""XQuAD retrieval: same-language nDCG@10 (MTEB protocol) beside the published figure, and cross-lingual.

Why: the sample query set is ours; XQuAD is the public yardstick. Reproducing
MTEB's per-language XQuADRetrieval nDCG@10 for the same model shows the whole
path (prompts, truncation, scoring, metric) is right, and the query language x
document language table shows what cross-lingual search costs.

Protocol (MTEB ``XQuADRetrieval``, see search.evaluation.xquad.xquad_same_language):
questions in L -> the 240 paragraphs in L, questions and paragraphs deduplicated
by text, the model's query/document prompts ("query: " / "passage: " for e5),
exact cosine over all paragraphs, nDCG@10 from ranx. Cross-lingual: questions
in L1 -> the paragraphs in L2 (relevant: the question's paragraph); the "pool"
column searches the paragraphs of all listed languages at once, any translation
of the right paragraph counting as relevant. Same-run baseline: the
cross-lingual retention, mean off-diagonal over mean diagonal nDCG@10.

    python -m benchmarks.xquad --model multilingual-e5-small
    python -m benchmarks.xquad --langs en,de,zh --limit 30     # a quick smoke run

Retrieval is pluggable (``Retriever``): the default embeds every text once
(cached across tables) and scores exactly; other first stages (sparse, hybrid,
rerankers) can be compared on the same query sets with ``same_language_reports``
and ``cross_lingual_reports``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

import numpy as np

from benchmarks.common import evaldata_dir, format_table, reference_name, reference_scores
from search.core.types import CorpusDoc, Query, QuerySet
from search.evaluation.metrics import Run, evaluate
from search.evaluation.report import EvalReport
from search.evaluation.xquad import XQUAD_LANGUAGES, xquad_cross_lingual, xquad_same_language
from search.models.embedder import Embedder
from search.models.encoders.planning import Planning
from search.models.loading import load_embedder
from search.models.registry import ModelRegistry
from search.models.specs import DEFAULT_MODEL

METRICS = ("ndcg@10", "mrr@10", "recall@1", "recall@10", "recall@100", "map@100")
REFERENCE_FILE = "mteb_xquad_ndcg10.tsv"
QUERY_BLOCK = 1024  # queries scored per matrix product: bounds memory at any corpus size


class Retriever(Protocol):
    """A first stage bound to one corpus: queries -> top-k documents with scores."""

    def retrieve(self, queries: Sequence[Query], k: int) -> Run: ...


RetrieverFactory = Callable[[Mapping[str, CorpusDoc]], Retriever]


class VectorCache:
    """Embeddings by (side, text), so a paragraph or question is embedded once per process run."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder
        self._vectors: dict[tuple[str, str], np.ndarray] = {}
        self.seconds = 0.0
        self.encoded = 0

    def documents(self, texts: Sequence[str]) -> np.ndarray:
        return self._get("document", texts)

    def queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._get("query", texts)

    def _get(self, side: str, texts: Sequence[str]) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if (side, t) not in self._vectors))
        if missing:
            t0 = time.perf_counter()
            encode = self.embedder.encode_documents if side == "document" else self.embedder.encode_queries
            for text, vector in zip(missing, encode(missing)):
                self._vectors[(side, text)] = vector
            self.seconds += time.perf_counter() - t0
            self.encoded += len(missing)
        return np.stack([self._vectors[(side, t)] for t in texts]) if texts else np.zeros((0, 0), np.float32)


class ExactDenseRetriever:
    """Exact cosine search (vectors are L2-normalised): what MTEB does, no ANN approximation."""

    def __init__(self, cache: VectorCache, corpus: Mapping[str, CorpusDoc]) -> None:
        self._ids = list(corpus)
        self._matrix = cache.documents([corpus[d].text for d in self._ids])
        self._cache = cache

    def retrieve(self, queries: Sequence[Query], k: int) -> Run:
        run: dict[str, dict[str, float]] = {}
        if not queries or not self._ids:
            return run
        vectors = self._cache.queries([q.text for q in queries])
        k = min(k, len(self._ids))
        for start in range(0, len(queries), QUERY_BLOCK):
            scores = vectors[start : start + QUERY_BLOCK] @ self._matrix.T
            top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
            for row, query in enumerate(queries[start : start + QUERY_BLOCK]):
                picked = top[row][np.argsort(-scores[row, top[row]], kind="stable")]
                run[query.qid] = {self._ids[i]: float(scores[row, i]) for i in picked}
        return run


def dense_factory(cache: VectorCache) -> RetrieverFactory:
    return lambda corpus: ExactDenseRetriever(cache, corpus)


def _reports(queryset: QuerySet, factories: Mapping[str, RetrieverFactory], k: int) -> EvalReport:
    t0 = time.perf_counter()
    queries = list(queryset.queries.values())
    runs = {name: factory(queryset.corpus).retrieve(queries, k) for name, factory in factories.items()}
    report = evaluate(queryset, runs, METRICS)
    print(
        f"  {queryset.name}: {len(queries)} queries, {len(queryset.corpus)} documents, "
        f"{time.perf_counter() - t0:.0f}s",
        file=sys.stderr,
        flush=True,
    )
    return report


def same_language_reports(
    langs: Sequence[str], factories: Mapping[str, RetrieverFactory], limit: int | None = None, k: int = 100
) -> dict[str, EvalReport]:
    """Language -> report of every pipeline on MTEB's XQuADRetrieval subset for that language."""
    data = evaldata_dir()
    return {lang: _reports(xquad_same_language(data, lang, limit=limit), factories, k) for lang in langs}


def cross_lingual_reports(
    langs: Sequence[str], factories: Mapping[str, RetrieverFactory], limit: int | None = None, k: int = 100
) -> dict[str, EvalReport]:
    """Document language (and "pool": all of ``langs``) -> report for questions in every language of ``langs``.

    Read a cell as ``reports[doc_lang].by_query_language[query_lang][pipeline][metric]``.
    """
    data = evaldata_dir()
    out = {doc: _reports(xquad_cross_lingual(data, langs, [doc], limit=limit), factories, k) for doc in langs}
    if len(langs) > 1:
        out["pool"] = _reports(xquad_cross_lingual(data, langs, langs, limit=limit), factories, k)
    return out


def same_language_table(
    reports: Mapping[str, EvalReport], pipeline: str, published: Mapping[str, float]
) -> tuple[str, list[float], list[float]]:
    """Rows lang | queries | ours | MTEB | gap (nDCG@10 x 100); returns the table, our values and the gaps."""
    rows, ours, gaps = [], [], []
    for lang, report in reports.items():
        value = report.overall[pipeline]["ndcg@10"] * 100
        reference = published.get(lang)
        gap = None if reference is None else value - reference
        ours.append(value)
        if gap is not None:
            gaps.append(gap)
        rows.append(
            (lang, report.queries_evaluated, value, report.overall[pipeline]["mrr@10"] * 100, reference, gap)
        )
    return format_table(["lang", "queries", "nDCG@10", "MRR@10", "MTEB nDCG@10", "gap"], rows), ours, gaps


def cross_lingual_table(
    reports: Mapping[str, EvalReport], pipeline: str, langs: Sequence[str]
) -> tuple[str, float, float]:
    """Query language (rows) x document language (columns) nDCG@10 x 100; returns table, diagonal and off-diagonal means."""
    columns = [c for c in [*langs, "pool"] if c in reports]
    rows, diagonal, off = [], [], []
    for q in langs:
        row: list[object] = [q]
        for doc in columns:
            value = reports[doc].by_query_language[q][pipeline]["ndcg@10"] * 100
            row.append(value)
            if doc == q:
                diagonal.append(value)
            elif doc != "pool":
                off.append(value)
        rows.append(row)
    means: list[object] = ["mean"]
    for doc in columns:
        means.append(
            statistics.fmean(reports[doc].by_query_language[q][pipeline]["ndcg@10"] * 100 for q in langs)
        )
    rows.append(means)
    table = format_table(["query \\ docs", *columns], rows)
    return table, statistics.fmean(diagonal), statistics.fmean(off) if off else float("nan")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--langs", default=",".join(XQUAD_LANGUAGES), help="XQuAD languages (ISO 639-1)")
    parser.add_argument("--cross-langs", help="languages of the cross-lingual table (default: --langs)")
    parser.add_argument(
        "--limit", type=int, help="first N paragraphs per language (quick runs; not comparable to MTEB)"
    )
    parser.add_argument("--no-cross", action="store_true", help="same-language table only")
    parser.add_argument(
        "--backends",
        default="auto",
        help="comma-separated backends compared in one run, e.g. torch,auto (the first is the reference; "
        "the cross-lingual table uses the first)",
    )
    args = parser.parse_args(argv)

    registry = ModelRegistry()
    spec = registry.get(args.model)
    langs = [x.strip() for x in args.langs.split(",") if x.strip()]
    cross_langs = [x.strip() for x in (args.cross_langs or args.langs).split(",") if x.strip()]
    table = reference_scores(REFERENCE_FILE)
    published = table.get(reference_name(spec.name)) or table.get(reference_name(spec.source)) or {}

    started = time.perf_counter()
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    planning: Planning = "now" if len(backends) > 1 else "later"  # one backend: as the app starts
    caches = {
        backend: VectorCache(load_embedder(spec, registry=registry, backend=backend, planning=planning))  # type: ignore[arg-type]
        for backend in backends
    }
    cache = caches[backends[0]]
    factories = {spec.name: dense_factory(cache)}
    if len(backends) > 1:
        compare_backends(langs, spec.name, caches, args.limit)
    same = same_language_reports(langs, factories, limit=args.limit)
    text, ours, gaps = same_language_table(same, spec.name, published)
    limited = f", first {args.limit} paragraphs per language (NOT comparable to MTEB)" if args.limit else ""
    print(f"XQuAD same-language retrieval (MTEB XQuADRetrieval protocol), {spec.name}, x100{limited}")
    print(text)
    print(f"mean nDCG@10 over {len(ours)} languages: ours {statistics.fmean(ours):.2f}")
    if gaps:
        refs = [published[lang] for lang in same if lang in published]
        ours_where = [same[lang].overall[spec.name]["ndcg@10"] * 100 for lang in same if lang in published]
        print(
            f"where MTEB publishes a figure ({len(gaps)} languages: {', '.join(lang for lang in same if lang in published)}): "
            f"ours {statistics.fmean(ours_where):.2f}, published {statistics.fmean(refs):.2f}, "
            f"mean gap {statistics.fmean(gaps):+.2f} points"
        )
    else:
        print(f"no published XQuAD figures for {spec.name} in {REFERENCE_FILE}")

    if not args.no_cross:
        cross = cross_lingual_reports(cross_langs, factories, limit=args.limit)
        text, diagonal, off = cross_lingual_table(cross, spec.name, cross_langs)
        print()
        print(
            f"XQuAD cross-lingual retrieval, nDCG@10 x100: questions in the row language -> paragraphs in the column "
            f"language; 'pool' = paragraphs of all {len(cross_langs)} languages, any translation relevant"
        )
        print(text)
        if not np.isnan(off):
            print(
                f"cross-lingual retention (same run): off-diagonal mean {off:.2f} / diagonal mean {diagonal:.2f} "
                f"= {off / diagonal:.3f}"
            )
    print(
        f"\n{cache.encoded} texts embedded in {cache.seconds:.0f}s; total {time.perf_counter() - started:.0f}s"
    )


def compare_backends(
    langs: Sequence[str], model: str, caches: Mapping[str, VectorCache], limit: int | None
) -> None:
    """Same-language nDCG@10 per backend in one run, and each one's difference to the first."""
    factories = {backend: dense_factory(cache) for backend, cache in caches.items()}
    same = same_language_reports(langs, factories, limit=limit)
    names = list(caches)
    rows: list[list[object]] = []
    for lang, report in same.items():
        rows.append([lang, *(report.overall[name]["ndcg@10"] * 100 for name in names)])
    means = [statistics.fmean(float(row[i + 1]) for row in rows) for i in range(len(names))]  # type: ignore[arg-type]
    rows.append(["mean", *means])
    labels = [f"{name} ({getattr(caches[name].embedder, 'backend', name)})" for name in names]
    print(f"XQuAD same-language nDCG@10 x100 by backend, {model}")
    print(format_table(["lang", *labels], rows))
    for name, mean in zip(names[1:], means[1:]):
        print(f"{name} vs {names[0]}: {mean - means[0]:+.2f} points (bar: within 0.5)")
    print()


if __name__ == "__main__":
    main()
