"""An evaluation's results as data (EvalReport), and as the text tables the CLI prints.

Kept apart from scoring (search.evaluation.metrics) and charts
(search.evaluation.plots), as ranx keeps its report, evaluation and plots apart.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

PRIMARY_METRIC = "ndcg@10"
METRIC_LABELS = {
    "ndcg@10": "nDCG@10",
    "mrr@10": "MRR@10",
    "recall@1": "R@1",
    "recall@10": "R@10",
    "recall@100": "R@100",
    "map@100": "MAP@100",
    "map": "MAP",
}
TEST_LABELS = {"student": "paired t-test", "fisher": "Fisher randomization test"}


def correction_label(report: EvalReport) -> str:
    """What the p-values of a report's significance table are."""
    if report.correction == "holm":
        n = len(report.pipelines)
        return f"p Holm-adjusted over the {n * (n - 1) // 2} pipeline pairs of each metric"
    return "p not adjusted for multiple comparisons"


def metric_label(metric: str) -> str:
    return METRIC_LABELS.get(metric, metric)


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
    """One metric, two pipelines: the mean difference and ranx's p-value over paired per-query scores.

    ``p_adjusted``: the p-value after Holm's correction over every pair of pipelines compared on
    the same metric (a table of n pipelines runs n(n-1)/2 tests per metric); ``significant`` reads it.
    """

    baseline: str
    other: str
    metric: str
    delta: float  # mean(other) - mean(baseline)
    p_value: float  # the test's own, unadjusted
    significant: bool  # p_adjusted < alpha
    wins: int  # queries where other > baseline
    ties: int
    losses: int
    p_adjusted: float = float("nan")  # NaN: a report written before the correction (p_value alone)

    @property
    def p(self) -> float:
        """The p-value to show: the adjusted one when the report has it."""
        return self.p_value if self.p_adjusted != self.p_adjusted else self.p_adjusted


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
    correction: str = (
        "holm"  # multiple-comparison correction of the p-values ("none": reports of earlier versions)
    )
    latency: Mapping[str, Latency] = field(default_factory=dict)
    details: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # pipeline -> free-form facts
    # pipeline -> mean share of a query's top 10 written in the query's own language: the pull a
    # multilingual collection shows (0.77 for raw e5-small vectors on XQuAD's 6-language pool)
    own_language_at_10: Mapping[str, float] = field(default_factory=dict)
    # Where the numbers come from: files read, split, how query and document languages were set.
    source: Mapping[str, str] = field(default_factory=dict)

    @property
    def queries_skipped(self) -> int:
        """Queries of the set without a relevant document (BEIR files list every split's queries)."""
        return self.queries_total - self.queries_evaluated

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
                "correction": self.correction,
                "comparisons": [
                    vars(c) | {"p_value": _finite(c.p_value), "p_adjusted": _finite(c.p_adjusted)}
                    for c in self.comparisons
                ],
            },
            "latency_ms": {name: vars(lat) for name, lat in self.latency.items()},
            "details": _plain(self.details),
            "source": dict(self.source),
            "queries_skipped": self.queries_skipped,
            "own_language_at_10": _plain(self.own_language_at_10),
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
                Comparison(
                    **{
                        **c,
                        "p_value": float("nan") if c["p_value"] is None else c["p_value"],
                        "p_adjusted": float("nan") if c.get("p_adjusted") is None else c["p_adjusted"],
                    }
                )
                for c in sig.get("comparisons", [])
            ),
            stat_test=sig.get("test", "student"),
            alpha=float(sig.get("alpha", 0.05)),
            correction=sig.get("correction", "none"),
            latency={name: Latency(**lat) for name, lat in data.get("latency_ms", {}).items()},
            details=data.get("details", {}),
            source=data.get("source", {}),
            own_language_at_10=data.get("own_language_at_10", {}),
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
    skipped = f"; {report.queries_skipped} without judgements skipped" if report.queries_skipped > 0 else ""
    lines = [
        (
            f"Query set {report.queryset!r}: {report.queries_evaluated} queries with judgements "
            f"(of {report.queries_total}{skipped}), {report.documents} documents"
        ),
        *(f"  {key}: {value}" for key, value in report.source.items()),
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
    batched = [int(d["query_batch"]) for d in report.details.values() if d.get("query_batch")]
    if with_latency and batched:
        lines.append(
            f"ms/query: the time of a batch of up to {max(batched)} queries (embedding, search, "
            "second stage) per query; interactive searches take longer per query"
        )

    if len(report.pipelines) > 1:
        base = report.pipelines[0]
        lines += [
            "",
            (
                f"Difference vs {base} ({TEST_LABELS.get(report.stat_test, report.stat_test)}, "
                f"paired over {report.queries_evaluated} queries; {correction_label(report)}; "
                f"* p < {report.alpha:g})"
            ),
        ]
        sig_rows = []
        for other in report.pipelines[1:]:
            row = [other]
            for metric in report.metrics:
                c = report.comparison(base, other, metric)
                row.append("" if c is None else f"{c.delta:+.3f} p={c.p:.3f}{'*' if c.significant else ''}")
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
