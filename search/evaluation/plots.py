"""PNG charts of an EvalReport (Agg backend, no pyplot state: safe in a server)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from search.evaluation.report import PRIMARY_METRIC, EvalReport, metric_label


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
