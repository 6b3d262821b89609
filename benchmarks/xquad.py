"""XQuAD retrieval: same-language nDCG@10 (MTEB protocol) beside the published figure, and cross-lingual.

Why: the sample query set is ours; XQuAD is the public yardstick. Reproducing
MTEB's per-language XQuADRetrieval nDCG@10 for the same model shows the whole
path (prompts, truncation, scoring, metric) is right, and the query language x
document language table shows what cross-lingual search costs.

Protocol (MTEB ``XQuADRetrieval``, see search.evaluation.xquad.xquad_same_language):
questions in L -> the 240 paragraphs in L, questions and paragraphs deduplicated
by text, the model's query/document prompts ("query: " / "passage: " for e5),
exact cosine over all paragraphs, nDCG@10 from ranx. It runs through the app's
evaluator (``evaluate_pipelines``: the indexer, a scratch store searched exactly, the
Searcher), with the model's own vectors (``raw``: MTEB has no language correction;
``--correction vote`` shows the app's default) and chunks as long as the model's input,
so each paragraph is embedded whole as MTEB embeds it. Cross-lingual: questions
in L1 -> the paragraphs in L2 (relevant: the question's paragraph); the "pool"
column searches the paragraphs of all listed languages at once, any translation
of the right paragraph counting as relevant. Same-run baseline: the
cross-lingual retention, mean off-diagonal over mean diagonal nDCG@10.

    python -m benchmarks.xquad --model multilingual-e5-small
    python -m benchmarks.xquad --langs en,de,zh --limit 30     # a quick smoke run

Other pipelines (sparse, hybrid, rerankers) are benchmarks.second_stage, through the same
evaluator. Paragraphs are embedded once per run behind the app's embedding cache (a second
run reads them back); ``--backends`` compares backends without it.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from benchmarks.common import evaldata_dir, format_table, reference_name, reference_scores
from indexer.service import FolderIndexer
from search.application.evaluating import EvalWorkspace, PipelineSpec, evaluate_pipelines
from search.application.services import Services
from search.application.variants import CORRECTIONS, Correction
from search.core.settings import Settings
from search.core.types import QuerySet
from search.evaluation.report import EvalReport
from search.evaluation.xquad import XQUAD_LANGUAGES, xquad_cross_lingual, xquad_same_language
from search.models.specs import DEFAULT_MODEL

METRICS = ("ndcg@10", "mrr@10", "recall@1", "recall@10", "recall@100", "map@100")
REFERENCE_FILE = "mteb_xquad_ndcg10.tsv"


class XquadBench:
    """One model's pipeline on XQuAD query sets, through the app's evaluator; ``label`` keys its reports."""

    def __init__(
        self, services: Services, workspace: EvalWorkspace, model: str, correction: Correction = "raw"
    ) -> None:
        self.services = services
        self.workspace = workspace
        self.pipeline = PipelineSpec(services.spec(model).name, correction=correction)
        self.label = self.pipeline.label
        self.seconds = 0.0
        services.embedder(model)  # loaded before the runs: the evaluator keeps it between them

    def report(self, queryset: QuerySet, k: int = 100) -> EvalReport:
        t0 = time.perf_counter()
        report = evaluate_pipelines(
            self.services, queryset, [self.pipeline], k=k, workspace=self.workspace, metrics=METRICS
        )
        self.seconds += time.perf_counter() - t0
        print(
            f"  {queryset.name}: {report.queries_evaluated} queries, {len(queryset.corpus)} documents, "
            f"{time.perf_counter() - t0:.0f}s",
            flush=True,
        )
        return report


def whole_paragraphs(services: Services, model: str) -> EvalWorkspace:
    """A scratch workspace whose chunks are as long as the model's input: a paragraph is one chunk (MTEB)."""
    return EvalWorkspace(
        FolderIndexer(settings=services.settings), chunk_tokens=services.spec(model).max_tokens
    )


def same_language_reports(
    bench: XquadBench, langs: Sequence[str], limit: int | None = None, k: int = 100
) -> dict[str, EvalReport]:
    """Language -> report on MTEB's XQuADRetrieval subset for that language."""
    data = evaldata_dir()
    return {lang: bench.report(xquad_same_language(data, lang, limit=limit), k) for lang in langs}


def cross_lingual_reports(
    bench: XquadBench, langs: Sequence[str], limit: int | None = None, k: int = 100
) -> dict[str, EvalReport]:
    """Document language (and "pool": all of ``langs``) -> report for questions in every language of ``langs``.

    Read a cell as ``reports[doc_lang].by_query_language[query_lang][label][metric]``.
    """
    data = evaldata_dir()
    out = {doc: bench.report(xquad_cross_lingual(data, langs, [doc], limit=limit), k) for doc in langs}
    if len(langs) > 1:
        out["pool"] = bench.report(xquad_cross_lingual(data, langs, langs, limit=limit), k)
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
    parser.add_argument("--correction", choices=CORRECTIONS, default="raw", help="the vectors searched")
    parser.add_argument("--cache-dir", type=Path, help="model and embedding cache (default: the app's)")
    args = parser.parse_args(argv)

    langs = [x.strip() for x in args.langs.split(",") if x.strip()]
    cross_langs = [x.strip() for x in (args.cross_langs or args.langs).split(",") if x.strip()]
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="xquad-") as tmp:  # no store of the user's is opened
        base = Settings(data_dir=Path(tmp)).with_overrides(cache_dir=args.cache_dir)
        if len(backends) > 1:  # each backend embeds every text itself (no cache), planned now
            compare_backends(langs, args.model, base, backends, args.limit)
        services = Services.build(replace(base, backend=backends[0]))
        try:
            with whole_paragraphs(services, args.model) as workspace:
                bench = XquadBench(services, workspace, args.model, args.correction)
                print_tables(args, bench, langs, cross_langs)
        finally:
            services.close()
    print(f"\nevaluation {bench.seconds:.0f}s; total {time.perf_counter() - started:.0f}s")


def print_tables(
    args: argparse.Namespace, bench: XquadBench, langs: Sequence[str], cross_langs: Sequence[str]
) -> None:
    spec = bench.services.spec(args.model)
    table = reference_scores(REFERENCE_FILE)
    published = table.get(reference_name(spec.name)) or table.get(reference_name(spec.source)) or {}
    same = same_language_reports(bench, langs, limit=args.limit)
    text, ours, gaps = same_language_table(same, bench.label, published)
    limited = f", first {args.limit} paragraphs per language (NOT comparable to MTEB)" if args.limit else ""
    print(f"XQuAD same-language retrieval (MTEB XQuADRetrieval protocol), {bench.label}, x100{limited}")
    print(text)
    print(f"mean nDCG@10 over {len(ours)} languages: ours {statistics.fmean(ours):.2f}")
    if gaps:
        refs = [published[lang] for lang in same if lang in published]
        ours_where = [same[lang].overall[bench.label]["ndcg@10"] * 100 for lang in same if lang in published]
        print(
            f"where MTEB publishes a figure ({len(gaps)} languages: {', '.join(lang for lang in same if lang in published)}): "
            f"ours {statistics.fmean(ours_where):.2f}, published {statistics.fmean(refs):.2f}, "
            f"mean gap {statistics.fmean(gaps):+.2f} points"
        )
    else:
        print(f"no published XQuAD figures for {spec.name} in {REFERENCE_FILE}")

    if not args.no_cross:
        cross = cross_lingual_reports(bench, cross_langs, limit=args.limit)
        text, diagonal, off = cross_lingual_table(cross, bench.label, cross_langs)
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


def compare_backends(
    langs: Sequence[str], model: str, base: Settings, backends: Sequence[str], limit: int | None
) -> None:
    """Same-language nDCG@10 per backend in one run, and each one's difference to the first."""
    columns: dict[str, list[float]] = {}
    labels = []
    for backend in backends:
        settings = replace(base, backend=backend, backend_planning="now", embedding_cache=False)
        services = Services.build(settings)
        try:
            with whole_paragraphs(services, model) as workspace:
                bench = XquadBench(services, workspace, model)
                same = same_language_reports(bench, langs, limit=limit)
                columns[backend] = [report.overall[bench.label]["ndcg@10"] * 100 for report in same.values()]
                labels.append(f"{backend} ({getattr(services.embedder(model), 'backend', backend)})")
        finally:
            services.close()
    rows: list[list[object]] = [[lang, *(columns[b][i] for b in backends)] for i, lang in enumerate(langs)]
    means = [statistics.fmean(columns[b]) for b in backends]
    rows.append(["mean", *means])
    print(f"XQuAD same-language nDCG@10 x100 by backend, {model}")
    print(format_table(["lang", *labels], rows))
    for name, mean in zip(backends[1:], means[1:]):
        print(f"{name} vs {backends[0]}: {mean - means[0]:+.2f} points (bar: within 0.5)")
    print()


if __name__ == "__main__":
    main()
