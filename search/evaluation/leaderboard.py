"""One table across models: quality, speed and size side by side, with the published MTEB figure beside it.

The rows come from an EvalReport (one run, so speed columns share a machine and a
moment); the published figures are read at run time from a folder of MTEB results
(``reference_scores``: ``mteb_task_means.txt``, one line per model, task and split)
when one is given and present. Nothing is copied into the project.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from search.core.types import QuerySet
from search.evaluation.report import EvalReport, metric_label, text_table

LEADERBOARD_METRICS = ("ndcg@10", "recall@10", "mrr@10")
TASK_MEANS_FILE = "mteb_task_means.txt"


@dataclass(frozen=True)
class ReferenceScores:
    """Published MTEB scores: (model, task) -> {split: {metric: score}}."""

    scores: Mapping[tuple[str, str], Mapping[str, Mapping[str, float]]]
    origin: str = ""

    @classmethod
    def read(cls, folder: Path | None) -> ReferenceScores:
        """The figures in ``folder`` if it holds them; empty otherwise (a missing folder is not an error)."""
        if folder is None or not (folder / TASK_MEANS_FILE).is_file():
            return cls({})
        scores: dict[tuple[str, str], dict[str, dict[str, float]]] = {}
        for line in (folder / TASK_MEANS_FILE).read_text(encoding="utf-8").splitlines():
            head, sep, rest = line.partition("{")
            parts = head.split()
            if not sep or len(parts) < 4:
                continue
            try:
                values = ast.literal_eval("{" + rest)
            except (ValueError, SyntaxError):
                continue
            model, task, split = parts[0], parts[1], parts[3]
            scores.setdefault((model, task), {})[split] = {str(k): float(v) for k, v in values.items()}
        return cls(scores, str(folder))

    def ndcg10(self, model: str, task: str) -> tuple[float, str] | None:
        """(nDCG@10, split) published for the model on the task; the test split when there are several."""
        splits = self.scores.get((model, task), {})
        for split in ("test", "validation", "dev", *splits):
            value = splits.get(split, {}).get("ndcg_at_10")
            if value is not None:
                return value, split
        return None


def mteb_task_for(queryset: QuerySet) -> str | None:
    """The MTEB task whose published figure is comparable with a run on this query set, if any."""
    if queryset.metadata.get("source") == "xquad" or "xquad" in queryset.name.lower():
        return "XQuADRetrieval"
    if "mlqa" in queryset.name.lower():
        return "MLQARetrieval"
    return None


@dataclass(frozen=True)
class LeaderboardRow:
    pipeline: str
    model: str
    scores: Mapping[str, float]
    documents_per_second: float | None
    query_ms_p50: float | None
    index_mb: float | None
    published: float | None  # MTEB nDCG@10 of the model's published (fp32) weights on the same task
    flags: tuple[str, ...]
    vs_best: str = ""  # nDCG@10 difference to the best row, paired over the same queries, with its p-value


def leaderboard(
    report: EvalReport,
    *,
    mteb_names: Mapping[str, str] | None = None,  # model -> its name in the reference figures
    reference: ReferenceScores | None = None,
    task: str | None = None,
) -> list[LeaderboardRow]:
    """The report's pipelines, best nDCG@10 first."""
    rows = []
    for name in report.pipelines:
        details = report.details.get(name, {})
        model = str(details.get("model", name))
        latency = report.latency.get(name)
        index_bytes = details.get("index_bytes")
        published = None
        mteb_name = (mteb_names or {}).get(model)
        if reference is not None and task and mteb_name:
            found = reference.ndcg10(mteb_name, task)
            published = found[0] / 100 if found else None
        flags = []
        unsupported = list(details.get("unsupported_query_languages") or [])
        if unsupported:
            flags.append(f"not trained on {', '.join(unsupported)}")
        if details.get("cross_lingual") is False:
            flags.append("same-language only")
        rows.append(
            LeaderboardRow(
                pipeline=name,
                model=model,
                scores={m: report.overall[name][m] for m in LEADERBOARD_METRICS if m in report.overall[name]},
                documents_per_second=details.get("documents_per_second"),
                query_ms_p50=latency.p50_ms if latency else None,
                index_mb=round(index_bytes / 1e6, 2) if isinstance(index_bytes, int) else None,
                published=published,
                flags=tuple(flags),
            )
        )
    rows.sort(key=lambda row: -row.scores.get("ndcg@10", 0.0))
    if rows:
        best = rows[0].pipeline
        for i, row in enumerate(rows[1:], 1):
            c = report.comparison(best, row.pipeline)
            if c is not None:
                sign = c.delta if c.baseline == best else -c.delta
                rows[i] = replace(
                    row, vs_best=f"{sign:+.3f} (p={c.p:.2g}{', significant' if c.significant else ''})"
                )
    return rows


LEADERBOARD_HEADERS = [
    "model",
    *(metric_label(m) for m in LEADERBOARD_METRICS),
    "docs/s (index)",
    "query ms p50",
    "index MB",
    "MTEB nDCG@10 (published)",
    "nDCG@10 vs best (paired)",
    "flags",
]


def leaderboard_rows(rows: Sequence[LeaderboardRow]) -> list[list[object]]:
    """The rows as table cells (what the CLI prints and the Evaluate tab shows)."""

    def num(value: float | None, digits: int) -> object:
        return "" if value is None else f"{value:.{digits}f}"

    return [
        [
            row.pipeline,
            *(num(row.scores.get(m), 3) for m in LEADERBOARD_METRICS),
            num(row.documents_per_second, 1),
            num(row.query_ms_p50, 1),
            num(row.index_mb, 2),
            num(row.published, 3),
            row.vs_best,
            "; ".join(row.flags),
        ]
        for row in rows
    ]


def format_leaderboard(
    report: EvalReport, rows: Sequence[LeaderboardRow], *, task: str | None = None, origin: str = ""
) -> str:
    """The leaderboard, then nDCG@10 per query language with unsupported languages marked."""
    lines = [f"Leaderboard on {report.queryset!r} ({report.queries_evaluated} queries, one run)"]
    lines.append(text_table(LEADERBOARD_HEADERS, leaderboard_rows(rows)))
    notes = [
        "docs/s: documents indexed per second (chunking + embedding + writing; 0/blank when the index was "
        "reused); query ms: per query in batches; index MB: the scratch collection on disk (no search index)"
    ]
    if task:
        notes.append(
            f"MTEB: the published {task} nDCG@10 of the model's original weights"
            + (f" (read from {origin})" if origin else "")
            + "; blank where none is published"
        )
    lines += notes
    languages = list(report.by_query_language)
    if languages and len(rows) > 1:
        lines += ["", "nDCG@10 by query language (! = a language the model was not trained on)"]
        table = []
        for lang in languages:
            cells: list[object] = [lang, report.query_language_counts.get(lang, 0)]
            for row in rows:
                score = report.by_query_language[lang].get(row.pipeline, {}).get("ndcg@10")
                unsupported = lang in (
                    report.details.get(row.pipeline, {}).get("unsupported_query_languages") or []
                )
                cells.append("" if score is None else f"{score:.3f}{'!' if unsupported else ''}")
            table.append(cells)
        lines.append(text_table(["query lang", "queries", *(row.pipeline for row in rows)], table))
    return "\n".join(lines)
