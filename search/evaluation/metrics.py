"""Runs scored against a labeled query set: standard metrics, per-language breakdowns, significance.

Every number comes from ranx (metrics and the paired tests); this module only
chooses which queries and judgements go in, and lays the results out. Inputs
are copied before ranx sees them, so no caller's query set or run is changed
(BEIR's ``evaluate`` mutates its input; this must not).

Breakdowns:

* **per query language**: the queries written in that language, all their judgements.
* **per document language** L: the queries with at least one relevant document in L,
  judged only on those documents; relevant documents in *other* languages are
  removed from the ranking, so they neither count as hits nor push L documents
  down. It answers "how well are the relevant L documents ranked among
  non-relevant ones", which is what a user searching an L collection sees.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from search.core.types import UNDETERMINED, Hit, QuerySet

Run = Mapping[str, Mapping[str, float]]  # query id -> document id -> score (higher is better)
DEFAULT_METRICS: tuple[str, ...] = ("ndcg@10", "mrr@10", "recall@1", "recall@10", "recall@100", "map@100")
PRIMARY_METRIC = "ndcg@10"
STAT_TESTS = ("student", "fisher")  # ranx: two-sided paired t-test, Fisher's randomization test
METRIC_LABELS = {
    "ndcg@10": "nDCG@10",
    "mrr@10": "MRR@10",
    "recall@1": "R@1",
    "recall@10": "R@10",
    "recall@100": "R@100",
    "map@100": "MAP@100",
    "map": "MAP",
}
FISHER_PERMUTATIONS = 10_000
NO_RESULT = "\u0000no-result"  # stands in for an empty result list, which ranx cannot hold; never relevant
TEST_LABELS = {"student": "paired t-test", "fisher": "Fisher randomization test"}


def metric_label(metric: str) -> str:
    return METRIC_LABELS.get(metric, metric)


# --------------------------------------------------------------------------------------------
# Hits -> runs
# --------------------------------------------------------------------------------------------


def hit_relpath(hit: Hit) -> str:
    """Default document id of a hit: its path below the indexed root (BEIR corpus ids in this project)."""
    return hit.relpath


def fold_hits(hits: Iterable[Hit], doc_id: Callable[[Hit], str] = hit_relpath) -> dict[str, float]:
    """Chunk hits -> one score per document, its best chunk's (max), best document first.

    Query sets judge documents, an index returns chunks: a document is as good as
    its best passage, and later chunks of the same document must not take other
    documents' ranks.
    """
    best: dict[str, float] = {}
    for hit in hits:
        key = doc_id(hit)
        score = float(hit.score)
        if key not in best or score > best[key]:
            best[key] = score
    return dict(sorted(best.items(), key=lambda kv: (-kv[1], kv[0])))


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------

Scores = Mapping[str, Mapping[str, float]]  # pipeline -> metric -> mean score


@dataclass(frozen=True)
class Latency:
    """Per-query wall time of one pipeline, milliseconds."""

    queries: int
    mean_ms: float
    p50_ms: float
    p95_ms: float
    max_ms: float

    @classmethod
    def of(cls, values_ms: Sequence[float]) -> Latency:
        arr = np.asarray(values_ms, dtype=float)
        return cls(
            queries=int(arr.size),
            mean_ms=round(float(arr.mean()), 2),
            p50_ms=round(float(np.percentile(arr, 50)), 2),
            p95_ms=round(float(np.percentile(arr, 95)), 2),
            max_ms=round(float(arr.max()), 2),
        )


@dataclass(frozen=True)
class Comparison:
    """One metric, two pipelines: the mean difference and ranx's p-value over paired per-query scores."""

    baseline: str
    other: str
    metric: str
    delta: float  # mean(other) - mean(baseline)
    p_value: float
    significant: bool  # p_value < alpha
    wins: int  # queries where other > baseline
    ties: int
    losses: int


@dataclass(frozen=True)
class EvalReport:
    queryset: str
    metrics: tuple[str, ...]
    pipelines: tuple[str, ...]
    queries_total: int  # queries in the set
    queries_evaluated: int  # with at least one relevant document; the rest are left out
    documents: int
    overall: Scores
    by_query_language: Mapping[str, Scores]  # language -> pipeline -> metric -> score
    query_language_counts: Mapping[str, int]
    by_doc_language: Mapping[str, Scores]
    doc_language_counts: Mapping[str, int]  # queries with a relevant document in that language
    per_query: Mapping[str, Mapping[str, Mapping[str, float]]]  # pipeline -> metric -> qid -> score
    comparisons: tuple[Comparison, ...] = ()
    stat_test: str = "student"
    alpha: float = 0.05
    latency: Mapping[str, Latency] = field(default_factory=dict)
    details: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # pipeline -> free-form facts

    def score(self, pipeline: str, metric: str = PRIMARY_METRIC) -> float:
        return self.overall[pipeline][metric]

    def comparison(self, baseline: str, other: str, metric: str = PRIMARY_METRIC) -> Comparison | None:
        for c in self.comparisons:
            if c.metric == metric and {c.baseline, c.other} == {baseline, other}:
                return c
        return None

    def to_json(self) -> dict[str, Any]:
        return {
            "queryset": self.queryset,
            "metrics": list(self.metrics),
            "pipelines": list(self.pipelines),
            "queries_total": self.queries_total,
            "queries_evaluated": self.queries_evaluated,
            "documents": self.documents,
            "overall": _plain(self.overall),
            "by_query_language": _plain(self.by_query_language),
            "query_language_counts": dict(self.query_language_counts),
            "by_doc_language": _plain(self.by_doc_language),
            "doc_language_counts": dict(self.doc_language_counts),
            "per_query": _plain(self.per_query),
            "significance": {
                "test": self.stat_test,
                "alpha": self.alpha,
                "comparisons": [vars(c) | {"p_value": _finite(c.p_value)} for c in self.comparisons],
            },
            "latency_ms": {name: vars(lat) for name, lat in self.latency.items()},
            "details": _plain(self.details),
            "doc_language_definition": (
                "queries with a relevant document in the language, judged on those documents only; "
                "relevant documents in other languages are removed from the ranking"
            ),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> EvalReport:
        sig = data.get("significance", {})
        return cls(
            queryset=data["queryset"],
            metrics=tuple(data["metrics"]),
            pipelines=tuple(data["pipelines"]),
            queries_total=int(data["queries_total"]),
            queries_evaluated=int(data["queries_evaluated"]),
            documents=int(data["documents"]),
            overall=data["overall"],
            by_query_language=data["by_query_language"],
            query_language_counts=data["query_language_counts"],
            by_doc_language=data["by_doc_language"],
            doc_language_counts=data["doc_language_counts"],
            per_query=data.get("per_query", {}),
            comparisons=tuple(
                Comparison(**{**c, "p_value": float("nan") if c["p_value"] is None else c["p_value"]})
                for c in sig.get("comparisons", [])
            ),
            stat_test=sig.get("test", "student"),
            alpha=float(sig.get("alpha", 0.05)),
            latency={name: Latency(**lat) for name, lat in data.get("latency_ms", {}).items()},
            details=data.get("details", {}),
        )


def _finite(value: float) -> float | None:
    return None if value is None or math.isnan(value) else value


def _plain(value: Any) -> Any:
    """Mappings and numpy scalars -> JSON-ready dicts and floats."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return _finite(round(float(value), 6))
    if isinstance(value, np.integer):
        return int(value)
    return value


# --------------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------------


def evaluate(
    queryset: QuerySet,
    runs: Mapping[str, Run],
    metrics: Sequence[str] = DEFAULT_METRICS,
    *,
    latencies_ms: Mapping[str, Sequence[float]] | None = None,
    stat_test: str = "student",
    alpha: float = 0.05,
    details: Mapping[str, Mapping[str, Any]] | None = None,
) -> EvalReport:
    """Score every run (pipeline name -> run) on ``queryset``; compare runs pairwise.

    Queries without a relevant document are left out (they have no defined nDCG or
    recall); documents a run returns that the corpus does not hold count as non-relevant.
    """
    if not runs:
        raise ValueError("nothing to evaluate: no runs")
    if stat_test not in STAT_TESTS:
        raise ValueError(f"unknown test {stat_test!r}; use one of {STAT_TESTS}")
    metrics = tuple(metrics)
    qrels = {
        qid: {doc: int(grade) for doc, grade in judged.items() if grade > 0}
        for qid, judged in queryset.qrels.items()
        if qid in queryset.queries
    }
    qrels = {qid: judged for qid, judged in qrels.items() if judged}
    if not qrels:
        raise ValueError(f"query set {queryset.name!r} has no query with a relevant document")
    clean_runs = {name: _copy_run(run, qrels) for name, run in runs.items()}

    per_query = {name: _per_query(qrels, run, metrics) for name, run in clean_runs.items()}
    overall = {name: _means(scores, qrels) for name, scores in per_query.items()}

    query_lang = {qid: queryset.queries[qid].language or UNDETERMINED for qid in qrels}
    by_query_language: dict[str, dict[str, dict[str, float]]] = {}
    query_counts: dict[str, int] = {}
    for lang in sorted(set(query_lang.values())):
        subset = [qid for qid in qrels if query_lang[qid] == lang]
        query_counts[lang] = len(subset)
        by_query_language[lang] = {name: _means(scores, subset) for name, scores in per_query.items()}

    doc_lang = {doc_id: doc.language or UNDETERMINED for doc_id, doc in queryset.corpus.items()}
    by_doc_language: dict[str, dict[str, dict[str, float]]] = {}
    doc_counts: dict[str, int] = {}
    for lang in sorted({doc_lang.get(d, UNDETERMINED) for judged in qrels.values() for d in judged}):
        sub_qrels, sub_runs = _restrict_to_language(qrels, clean_runs, doc_lang, lang)
        doc_counts[lang] = len(sub_qrels)
        by_doc_language[lang] = {
            name: _means(_per_query(sub_qrels, run, metrics), sub_qrels) for name, run in sub_runs.items()
        }

    return EvalReport(
        queryset=queryset.name,
        metrics=metrics,
        pipelines=tuple(runs),
        queries_total=len(queryset.queries),
        queries_evaluated=len(qrels),
        documents=len(queryset.corpus),
        overall=overall,
        by_query_language=by_query_language,
        query_language_counts=query_counts,
        by_doc_language=by_doc_language,
        doc_language_counts=doc_counts,
        per_query=per_query,
        comparisons=_compare(list(runs), metrics, per_query, stat_test, alpha),
        stat_test=stat_test,
        alpha=alpha,
        latency={name: Latency.of(v) for name, v in (latencies_ms or {}).items() if len(v)},
        details={name: dict(d) for name, d in (details or {}).items()},
    )


def _copy_run(run: Run, qrels: Mapping[str, Mapping[str, int]]) -> dict[str, dict[str, float]]:
    """A fresh copy of the judged queries' rankings, ties broken by document id.

    Scores become ranks (n, n-1, ... 1): every metric here depends on the order only,
    and ranx orders tied scores by a hash that changes from process to process.
    """
    out: dict[str, dict[str, float]] = {}
    for qid in qrels:
        results = run.get(qid)
        if results:
            ranked = sorted(((float(s), str(d)) for d, s in results.items()), key=lambda sd: (-sd[0], sd[1]))
            out[qid] = {d: float(len(ranked) - i) for i, (_, d) in enumerate(ranked)}
    return out


def _per_query(
    qrels: Mapping[str, Mapping[str, int]], run: Mapping[str, Mapping[str, float]], metrics: Sequence[str]
) -> dict[str, dict[str, float]]:
    """metric -> query id -> score, computed by ranx; a query the run does not answer scores 0.

    ranx takes plain dicts here (its Qrels/Run objects JIT-compile typed containers in
    every process, a minute on a busy 2-core machine); it pairs qrels and run by
    position, so both are built in the same query order.
    """
    from ranx import evaluate as ranx_evaluate

    qids = sorted(qrels)
    ranx_qrels = {qid: dict(qrels[qid]) for qid in qids}
    ranx_run = {qid: dict(run.get(qid) or {NO_RESULT: 0.0}) for qid in qids}
    values = ranx_evaluate(ranx_qrels, ranx_run, list(metrics), return_mean=False)
    if len(metrics) == 1:
        values = {metrics[0]: values}
    return {metric: {qid: float(v) for qid, v in zip(qids, values[metric])} for metric in metrics}


def _means(scores: Mapping[str, Mapping[str, float]], qids: Iterable[str]) -> dict[str, float]:
    ids = list(qids)
    return {
        metric: (statistics.fmean(by_q[q] for q in ids) if ids else float("nan"))
        for metric, by_q in scores.items()
    }


def _restrict_to_language(
    qrels: Mapping[str, Mapping[str, int]],
    runs: Mapping[str, Mapping[str, Mapping[str, float]]],
    doc_lang: Mapping[str, str],
    lang: str,
) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, dict[str, float]]]]:
    sub_qrels = {
        qid: {d: g for d, g in judged.items() if doc_lang.get(d, UNDETERMINED) == lang}
        for qid, judged in qrels.items()
    }
    sub_qrels = {qid: judged for qid, judged in sub_qrels.items() if judged}
    sub_runs = {}
    for name, run in runs.items():
        sub_runs[name] = {
            qid: {d: s for d, s in run.get(qid, {}).items() if d in sub_qrels[qid] or d not in qrels[qid]}
            for qid in sub_qrels
        }
    return sub_qrels, sub_runs


def _compare(
    runs: Sequence[str],
    metrics: Sequence[str],
    per_query: Mapping[str, Mapping[str, Mapping[str, float]]],
    stat_test: str,
    alpha: float,
) -> tuple[Comparison, ...]:
    """Every pair of runs, in the order given (the first is everyone's baseline), with ranx's tests."""
    from ranx.statistical_tests import fisher_randomization_test, paired_student_t_test

    out = []
    for i, baseline in enumerate(runs):
        for other in runs[i + 1 :]:
            for metric in metrics:
                qids = sorted(per_query[baseline][metric])
                a = np.array([per_query[baseline][metric][q] for q in qids], dtype=np.float64)
                b = np.array([per_query[other][metric][q] for q in qids], dtype=np.float64)
                if np.array_equal(a, b):
                    p_value = 1.0  # identical per-query scores (the t-test would give NaN)
                elif stat_test == "fisher":
                    p_value = float(fisher_randomization_test(a, b, FISHER_PERMUTATIONS, alpha, 42)[0])
                else:
                    p_value = float(paired_student_t_test(a, b, alpha)[0])
                out.append(
                    Comparison(
                        baseline=baseline,
                        other=other,
                        metric=metric,
                        delta=round(float(b.mean() - a.mean()), 6),
                        p_value=p_value,
                        significant=bool(p_value < alpha),
                        wins=int((b > a).sum()),
                        ties=int((b == a).sum()),
                        losses=int((b < a).sum()),
                    )
                )
    return tuple(out)


# --------------------------------------------------------------------------------------------
# Presentation
# --------------------------------------------------------------------------------------------


def text_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Monospace table: first column left-aligned, numbers with three decimals."""

    def cell(value: object) -> str:
        if isinstance(value, float):
            return "-" if math.isnan(value) else f"{value:.3f}"
        return "" if value is None else str(value)

    cells = [[cell(v) for v in row] for row in rows]
    widths = [max([len(str(h)), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    lines = [
        "  ".join(
            str(h).ljust(w) if i == 0 else str(h).rjust(w) for i, (h, w) in enumerate(zip(headers, widths))
        )
    ]
    lines.append("  ".join("-" * w for w in widths))
    for row in cells:
        lines.append(
            "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
        )
    return "\n".join(lines)


def format_report(report: EvalReport, language_metrics: Sequence[str] = (PRIMARY_METRIC,)) -> str:
    """The overall table (pipelines x metrics, with latency), significance, then per-language tables."""
    lines = [
        (
            f"Query set {report.queryset!r}: {report.queries_evaluated} queries with judgements "
            f"(of {report.queries_total}), {report.documents} documents"
        ),
        "",
    ]
    with_latency = bool(report.latency)
    headers = ["pipeline", *(metric_label(m) for m in report.metrics)]
    if with_latency:
        headers += ["ms/query p50", "p95"]
    rows: list[list[object]] = []
    for name in report.pipelines:
        row: list[object] = [name, *(report.overall[name][m] for m in report.metrics)]
        if with_latency:
            lat = report.latency.get(name)
            row += [f"{lat.p50_ms:.1f}" if lat else "", f"{lat.p95_ms:.1f}" if lat else ""]
        rows.append(row)
    lines.append(text_table(headers, rows))

    if len(report.pipelines) > 1:
        base = report.pipelines[0]
        lines += [
            "",
            (
                f"Difference vs {base} ({TEST_LABELS.get(report.stat_test, report.stat_test)}, "
                f"paired over {report.queries_evaluated} queries; * p < {report.alpha:g})"
            ),
        ]
        sig_rows = []
        for other in report.pipelines[1:]:
            row = [other]
            for metric in report.metrics:
                c = report.comparison(base, other, metric)
                row.append(
                    "" if c is None else f"{c.delta:+.3f} p={c.p_value:.3f}{'*' if c.significant else ''}"
                )
            sig_rows.append(row)
        lines.append(text_table(["pipeline", *(metric_label(m) for m in report.metrics)], sig_rows))

    for metric in language_metrics:
        for title, table, counts, unit in (
            ("query language", report.by_query_language, report.query_language_counts, "queries"),
            ("document language", report.by_doc_language, report.doc_language_counts, "queries"),
        ):
            lines += ["", f"{metric_label(metric)} by {title}"]
            lang_rows = [
                [lang, counts.get(lang, 0), *(table[lang][name][metric] for name in report.pipelines)]
                for lang in table
            ]
            lines.append(text_table([title.split()[0] + " lang", unit, *report.pipelines], lang_rows))
    return "\n".join(lines)


def plot_report(report: EvalReport, path: Path | str) -> Path:
    """PNG: one group of bars per metric, one bar per pipeline (Agg backend, no pyplot state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    n_pipes = len(report.pipelines)
    fig = Figure(figsize=(max(6.0, 1.2 * len(report.metrics) * max(1, n_pipes) ** 0.5 + 2), 4.2), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    x = np.arange(len(report.metrics))
    width = 0.8 / max(1, n_pipes)
    for i, name in enumerate(report.pipelines):
        values = [report.overall[name][m] for m in report.metrics]
        bars = ax.bar(x + (i - (n_pipes - 1) / 2) * width, values, width, label=name)
        ax.bar_label(bars, fmt="%.2f", fontsize=7, padding=1)
    ax.set_xticks(x, [metric_label(m) for m in report.metrics])
    ax.set_ylim(0, 1.08)
    ax.set_ylabel("score")
    ax.set_title(f"{report.queryset}: {report.queries_evaluated} queries")
    ax.legend(
        fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.09), ncol=min(n_pipes, 3), frameon=False
    )
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, format="png")
    return out


def plot_language_heatmap(
    report: EvalReport, path: Path | str, metric: str = PRIMARY_METRIC, by: str = "query"
) -> Path:
    """PNG heatmap: languages (rows) x pipelines (columns) of one metric; ``by`` = "query" or "document"."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    table = report.by_query_language if by == "query" else report.by_doc_language
    counts = report.query_language_counts if by == "query" else report.doc_language_counts
    langs = list(table)
    data = np.array([[table[lang][name][metric] for name in report.pipelines] for lang in langs], dtype=float)
    fig = Figure(figsize=(2.0 + 1.6 * len(report.pipelines), 1.2 + 0.38 * max(1, len(langs))), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    image = ax.imshow(data, vmin=0.0, vmax=1.0, cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(report.pipelines)), report.pipelines, rotation=20, ha="right", fontsize=8)
    ax.set_yticks(range(len(langs)), [f"{lang} ({counts.get(lang, 0)})" for lang in langs], fontsize=8)
    for r in range(len(langs)):
        for c in range(len(report.pipelines)):
            value = data[r, c]
            ax.text(
                c,
                r,
                "-" if math.isnan(value) else f"{value:.2f}",
                ha="center",
                va="center",
                color="white" if value < 0.6 else "black",
                fontsize=7,
            )
    ax.set_title(f"{metric_label(metric)} by {by} language")
    fig.colorbar(image, ax=ax, fraction=0.04)
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, format="png")
    return out
