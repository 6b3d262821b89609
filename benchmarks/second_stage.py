"""Second stages on XQuAD: dense vs sparse vs hybrid (RRF, DBSF) vs rerankers, per language, with latency.

Why: "optional reranking" and hybrid search must be shown to help, per language,
and what they cost per query. Everything runs through the app's own path: the
corpus is indexed into a real store (embedded Qdrant edge by default) with the
default model's dense vectors and subword-BM25 sparse vectors, and queries go
through the app's evaluator (``evaluate_pipelines``: the indexer's chunking, the vector
space the app writes, ``Searcher.search_batch``), so fusion happens inside Qdrant exactly
as in the UI. ``--correction raw`` and ``--chunk-tokens 512`` reproduce the figures of
earlier versions, which wrote each paragraph whole as the model's raw vector.

Setups (search.evaluation.querysets, MTEB XQuADRetrieval protocol):
* same-language: questions in L -> the paragraphs in L;
* cross-lingual: questions in L -> the paragraphs in the pivot language (en).

Pipelines: ``dense``; ``sparse`` (BM25 over the model's subword ids, IDF from
Qdrant); ``hybrid-rrf`` (reciprocal rank fusion, Qdrant's k=2); ``hybrid-rrf-w0.5``
(the same with the sparse list at half weight: the app's default hybrid);
``hybrid-dbsf`` (distribution-based score fusion); and ``<first>+<reranker>`` for each
``--rerankers`` model available offline. Quality uses every query, embedded in
batches once; latency p50 is end-to-end ``Searcher.search`` time (query
embedding included, one query at a time) over the first ``--latency-queries`` queries of each run.
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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from benchmarks.common import evaldata_dir, format_table
from benchmarks.splits import SPLITS, article_split
from indexer.service import FolderIndexer
from search.application.evaluating import EvalWorkspace, PipelineSpec, evaluate_pipelines
from search.application.services import Services
from search.application.variants import CORRECTIONS, Correction
from search.core.errors import ModelNotAvailableError, UnknownModelError
from search.core.settings import Settings
from search.core.types import QuerySet
from search.evaluation.report import EvalReport, Latency
from search.evaluation.xquad import xquad_cross_lingual, xquad_same_language
from search.models.specs import DEFAULT_MODEL
from search.retrieval.searcher import DEFAULT_FUSION, DEFAULT_SPARSE_WEIGHT, Mode, Searcher
from search.stores.base import FusionMethod, VectorStore

METRICS = ("ndcg@10", "mrr@10")
DEFAULT_LANGS = "en,de,zh,ar,hi,th"
K = 10


@dataclass(frozen=True)
class Pipeline:
    """A named first stage (and optional reranker): a row of the tables, a PipelineSpec for the evaluator."""

    name: str
    mode: Mode
    fusion: FusionMethod = DEFAULT_FUSION
    sparse_weight: float = 1.0
    reranker: str | None = None

    def spec(self, model: str, correction: Correction | None, candidates: int) -> PipelineSpec:
        hybrid = self.mode == "hybrid"
        return PipelineSpec(
            model,
            self.mode,
            reranker=self.reranker,
            candidates=candidates,
            correction=correction,
            fusion=self.fusion if hybrid else DEFAULT_FUSION,
            sparse_weight=self.sparse_weight if hybrid else DEFAULT_SPARSE_WEIGHT,
        )


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


class Bench:
    """The app's evaluator over one scratch store: each corpus indexed once per model, texts embedded once
    (the app's embedding cache), every pipeline run through ``evaluate_pipelines``."""

    def __init__(
        self,
        services: Services,
        workspace: EvalWorkspace,
        model: str = DEFAULT_MODEL,
        correction: Correction | None = None,
    ) -> None:
        self.services = services
        self.workspace = workspace
        self.model = services.spec(model).name
        self.correction = correction
        services.embedder(self.model)  # loaded before the runs: the evaluator keeps it between them

    def run(
        self, qs: QuerySet, pipelines: Sequence[Pipeline], latency_queries: int, candidates: int
    ) -> EvalReport:
        """Every pipeline's scores on ``qs`` (keyed by pipeline name) and its single-query latency."""
        specs = {p.name: p.spec(self.model, self.correction, candidates) for p in pipelines}
        report = evaluate_pipelines(
            self.services, qs, list(specs.values()), k=K, workspace=self.workspace, metrics=METRICS
        )
        report = renamed(report, {spec.label: name for name, spec in specs.items()})
        latency = {
            p.name: Latency.of(self.latencies(qs, p, specs[p.name], latency_queries))
            for p in pipelines
            if latency_queries
        }
        return replace(report, latency=latency)

    def latencies(self, qs: QuerySet, pipeline: Pipeline, spec: PipelineSpec, n: int) -> list[float]:
        """Milliseconds of ``Searcher.search`` for the first ``n`` queries, one at a time, on the collection
        the evaluation searched (its space rebuilt as the app searches it: queries embedded live)."""
        stored = self.services.space(self.model, document=True)
        variant = self.correction or stored.variant
        indexed = stored.uncorrected() if variant == "raw" else stored
        corpus = self.workspace.indexed(qs, indexed)  # the evaluation's index, built then
        searched = replace(indexed, embedder=self.services.embedder(self.model))
        searcher = Searcher(self.workspace.store, corpus.collection, searched)
        if variant == "corrected":
            searcher = searcher.without_vote()
        reranker = self.services.reranker(spec.reranker) if spec.reranker else None
        times = []
        for query in list(qs.queries.values())[:n]:
            t0 = time.perf_counter()
            searcher.search(
                query.text,
                k=K,
                mode=spec.mode,
                fusion=spec.fusion,
                sparse_weight=spec.sparse_weight,
                reranker=reranker,
                candidates=spec.candidates,
            )
            times.append((time.perf_counter() - t0) * 1000)
        return times


def renamed(report: EvalReport, names: Mapping[str, str]) -> EvalReport:
    """The report with its pipelines under the benchmark's short names (labels -> names)."""

    def keyed(scores: Mapping[str, object]) -> dict[str, object]:
        return {names.get(label, label): value for label, value in scores.items()}

    return replace(
        report,
        pipelines=tuple(names.get(label, label) for label in report.pipelines),
        overall=keyed(report.overall),  # type: ignore[arg-type]
        by_query_language={lang: keyed(s) for lang, s in report.by_query_language.items()},  # type: ignore[misc]
        by_doc_language={lang: keyed(s) for lang, s in report.by_doc_language.items()},  # type: ignore[misc]
        per_query=keyed(report.per_query),  # type: ignore[arg-type]
        comparisons=tuple(
            replace(c, baseline=names.get(c.baseline, c.baseline), other=names.get(c.other, c.other))
            for c in report.comparisons
        ),
        details=keyed(report.details),  # type: ignore[arg-type]
        own_language_at_10=keyed(report.own_language_at_10),  # type: ignore[arg-type]
    )


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


def open_bench_store(backend: str) -> VectorStore | None:
    """The scratch store: None is the evaluator's own (embedded Qdrant in a temporary folder)."""
    if backend == "memory":
        from search.stores.client import ClientStore

        return ClientStore(":memory:")
    return None


def available_rerankers(services: Services, names: Sequence[str]) -> list[str]:
    loaded = []
    for name in names:
        try:
            services.reranker(name)
            loaded.append(name)
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
        "--correction",
        choices=CORRECTIONS,
        default=None,
        help="the vectors searched (default: what the app writes; raw: the model's own, as earlier versions)",
    )
    parser.add_argument(
        "--chunk-tokens",
        type=int,
        default=None,
        help="longest chunk (default: the app's; 512: paragraphs whole)",
    )
    parser.add_argument("--cache-dir", type=Path, help="model and embedding cache (default: the app's)")
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
    with tempfile.TemporaryDirectory(prefix="second-stage-") as tmp:  # no store of the user's is opened
        settings = Settings(data_dir=Path(tmp), device=args.device).with_overrides(cache_dir=args.cache_dir)
        services = Services.build(settings)
        try:
            return run(args, data, langs, services)
        finally:
            services.close()


def run(args: argparse.Namespace, data: Path, langs: Sequence[str], services: Services) -> int:
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
            Pipeline(f"{first.name}+{r}", first.mode, first.fusion, first.sparse_weight, r)
            for r in available_rerankers(services, [n for n in args.rerankers.split(",") if n])
        ]
    )
    workspace = EvalWorkspace(
        FolderIndexer(settings=services.settings),
        open_bench_store(args.backend),
        chunk_tokens=args.chunk_tokens,
    )
    started = time.perf_counter()
    with workspace:
        bench = Bench(services, workspace, args.model, args.correction)
        sparse = services.sparse_encoder(bench.model)
        print(
            f"model {bench.model}; vectors {args.correction or services.space(bench.model).variant}; "
            f"sparse {sparse.name if sparse else None}; store {args.backend}; k={K}; "
            f"chunks up to {args.chunk_tokens or 'the default'} tokens; paragraph limit {args.limit or 'none'}; "
            f"XQuAD articles: {args.split}; latency over the first {args.latency_queries} queries per run"
        )
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
