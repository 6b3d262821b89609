"""Evaluate tab: a labeled query set x chosen pipelines -> metrics table, bar chart, language heatmap."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from search.application.access import is_inside
from search.application.evaluating import (
    LEADERBOARD_HEADERS,
    MODES,
    PRIMARY_METRIC,
    EvalReport,
    LeaderboardRow,
    leaderboard_rows,
    load_queryset,
    metric_label,
)
from search.application.variants import CORRECTIONS
from search.core.errors import NotAllowedError
from ui.choices import (
    NO_SECOND_STAGE,
    chosen_prompts,
    model_choices,
    model_picker_choices,
    models_needing_download,
    second_stage_choices,
)
from ui.context import UiContext
from ui.errors import user_message, warn
from ui.render import esc, esc_name, message

MAX_PIPELINES = 12  # models x modes x variants x second stages; each model embeds the whole corpus once


def allowed_queryset_folder(ctx: UiContext, raw: str) -> Path:
    """A query set folder inside the sample folder or an allowed root (the same rule as indexing)."""
    text = (raw or "").strip()
    if not text:
        if ctx.queryset_folder is None:
            raise NotAllowedError(
                "Enter a query set folder (BEIR: corpus.jsonl, queries.jsonl, qrels/test.tsv; or an MTEB task)."
            )
        return ctx.queryset_folder.resolve()
    if "\x00" in text:
        raise NotAllowedError("That is not a valid folder path.")
    resolved = Path(text).expanduser().resolve()
    roots = [Path(r).resolve() for r in ctx.app.settings.allowed_roots]
    if ctx.sample_folder is not None:
        roots.append(ctx.sample_folder.resolve())
    if not any(is_inside(resolved, root) for root in roots):
        raise NotAllowedError(
            f"Refused: {text!r} is outside the folders this server may read "
            f"({', '.join(str(r) for r in roots) or 'none configured'})."
        )
    return resolved


def available_modes() -> list[str]:
    """All first stages; evaluate_pipelines refuses sparse/hybrid with a message where no sparse encoder is wired
    (asking for the sparse encoder here would load a model while the page is being built)."""
    return list(MODES)


def metrics_rows(report: EvalReport) -> tuple[list[str], list[list[object]]]:
    headers = ["pipeline", *(metric_label(m) for m in report.metrics), "ms/query p50"]
    rows: list[list[object]] = []
    for name in report.pipelines:
        latency = report.latency.get(name)
        rows.append(
            [
                name,
                *(round(report.overall[name][m], 4) for m in report.metrics),
                latency.p50_ms if latency else None,
            ]
        )
    return headers, rows


RUN_SHARE = 0.9


def leaderboard_html(board: Sequence[LeaderboardRow]) -> str:
    """The models side by side: quality, indexing speed, query latency, size, the published figure, flags."""
    head = "".join(f"<th>{esc(h)}</th>" for h in LEADERBOARD_HEADERS)
    body = "".join(
        "<tr>" + "".join(f"<td>{esc(str(cell))}</td>" for cell in row) + "</tr>"
        for row in leaderboard_rows(board)
    )
    return (
        f'<div class="mls-small"><b>Leaderboard</b> (one run: speed columns share the machine and the moment; '
        f"MTEB: the published figure of the model's original weights, where one exists)</div>"
        f'<table class="mls-table" id="eval-leaderboard"><tr>{head}</tr>{body}</table>'
    )


def evaluate_fn(ctx: UiContext) -> Callable[..., tuple[Any, ...]]:
    def evaluate(
        folder: str,
        models: Sequence[str] | None,
        modes: Sequence[str] | None,
        second_stages: Sequence[str] | None,
        corrections: Sequence[str] | None = None,
        query_prompts: str | None = None,
        progress: gr.Progress = gr.Progress(),  # noqa: B008 - how Gradio injects a progress tracker
    ) -> tuple[Any, ...]:
        """Evaluate every (model, mode, correction, query prompt, second stage) pipeline on a query set;
        returns table, charts, report. ``query_prompts``: one per line, each beside the model's own."""
        from search.application.evaluating import write_eval_files

        try:
            path = allowed_queryset_folder(ctx, folder)
            offered_models = set(model_choices(ctx.app))
            chosen_models = [m for m in (models or []) if m in offered_models]
            chosen_modes = [m for m in (modes or []) if m in available_modes()] or ["dense"]
            offered_stages = set(second_stage_choices(ctx.app))
            stages = [s for s in (second_stages or []) if s in offered_stages and s != NO_SECOND_STAGE]
            if not chosen_models:
                raise NotAllowedError("Choose at least one model.")
            chosen_corrections = [c for c in (corrections or []) if c in CORRECTIONS]
            pipelines, notes = ctx.app.eval_grid(
                chosen_models, chosen_modes, stages, chosen_corrections, chosen_prompts(query_prompts)
            )
            if len(pipelines) > MAX_PIPELINES:
                raise NotAllowedError(
                    f"{len(pipelines)} pipelines is too many for one run (at most {MAX_PIPELINES})."
                )
            progress(0, desc=f"loading the query set {path.name}")
            queryset = load_queryset(path)

            def update(fraction: float, text: str) -> None:
                # the run fills 90 % of the bar: scoring and the charts come after it, with their own words
                progress(RUN_SHARE * max(0.0, min(1.0, float(fraction))), desc=text)

            report = ctx.app.evaluate(
                queryset, pipelines, progress=update, workspace=ctx.eval_workspace.get(ctx.app)
            )
            progress(0.97, desc="drawing the charts")
            files = write_eval_files(report, ctx.outputs_dir / time.strftime("eval-%Y%m%d-%H%M%S"))
        except Exception as exc:  # noqa: BLE001 - any exporter failure means: stay on torch
            text = user_message(exc)
            warn(text)
            return message(text, "err"), pd.DataFrame(), None, None, None, ""
        headers, rows = metrics_rows(report)
        skipped = (
            f" ({report.queries_skipped} without judgements skipped)" if report.queries_skipped > 0 else ""
        )
        source = "".join(
            f"<br><small>{esc(key)}: {esc_name(value)}</small>" for key, value in report.source.items()
        )
        summary = (
            f"<p><b>{esc_name(report.queryset)}</b>: {report.queries_evaluated} queries with judgements{skipped}, "
            f"{report.documents} documents, {len(report.pipelines)} "
            f"pipeline{'s' if len(report.pipelines) != 1 else ''}.{source}</p>"
        )
        summary += "".join(f"<p class='mls-small'>{esc(note)}</p>" for note in notes)
        board = ctx.app.leaderboard(report, queryset)
        if len(board) > 1:
            summary += leaderboard_html(board)
        table = pd.DataFrame(rows, columns=headers)
        text = ctx.app.report_text(report, queryset)
        return summary, table, str(files.metrics), str(files.query_languages), str(files.report), text

    return evaluate


def build_evaluate_tab(ctx: UiContext) -> None:
    gr.Markdown(
        "Measure retrieval quality on a labeled query set: a BEIR folder (corpus.jsonl, queries.jsonl, "
        "qrels/test.tsv, gzip too) or an MTEB retrieval task on disk; languages missing from the files are "
        "detected. Each pipeline indexes the corpus with its model, runs every judged query and is scored "
        "with ranx: nDCG@10, MRR@10, recall, MAP, broken down by language."
    )
    models = model_picker_choices(ctx.app)
    stages = [s for s in second_stage_choices(ctx.app) if s != NO_SECOND_STAGE]
    with gr.Row():
        folder = gr.Textbox(
            value=str(ctx.queryset_folder) if ctx.queryset_folder else "",
            label="Query set folder",
            info="the sample query set, or a folder inside the allowed roots",
            scale=3,
            elem_id="eval-folder",
        )
        button = gr.Button("Run evaluation", variant="primary", scale=1, elem_id="eval-button")
    with gr.Row():
        chosen_models = gr.CheckboxGroup(
            models,
            # the default model and the one the first launch indexed beside it: a leaderboard from the start
            value=[name for _, name in models[:1]] + [m for m in [ctx.app.companion_model()] if m],
            label="Models",
            info=models_needing_download(ctx.app),
            scale=3,
        )
        modes = gr.CheckboxGroup(available_modes(), value=["dense"], label="Retrieval", scale=1)
        second = gr.CheckboxGroup(
            stages,
            value=[],
            label="Second stages (each added to every pipeline)",
            visible=bool(stages),
            scale=1,
        )
    with gr.Row():
        corrections = gr.CheckboxGroup(
            list(CORRECTIONS),
            value=[],
            label="Language correction variants (none ticked: each model's own)",
            info="raw: the model's vectors; corrected: language means out; vote: corrected + the "
            "cross-lingual vote. Each is its own row; a model without a correction runs raw only",
            elem_id="eval-corrections",
            scale=2,
        )
        prompts = gr.Textbox(
            value="",
            label="Query prompts to compare (one per line)",
            placeholder="each is a row beside the model's own prompt; an instruction for an instruction-tuned model",
            lines=2,
            elem_id="eval-prompts",
            scale=3,
        )
    summary = gr.HTML(elem_id="eval-summary", min_height=60)  # room for the one progress bar
    table = gr.Dataframe(label="Metrics (mean over queries)", interactive=False, elem_id="eval-table")
    with gr.Row():
        # the charts carry their own titles; a label badge would cover them
        bars = gr.Image(  # wide chart beside a tall, narrow heatmap: most of the row
            label="Metrics per pipeline",
            show_label=False,
            type="filepath",
            interactive=False,
            elem_id="eval-bars",
            scale=3,
        )
        heatmap = gr.Image(
            label=f"{metric_label(PRIMARY_METRIC)}: query language x pipeline",
            show_label=False,
            type="filepath",
            interactive=False,
            elem_id="eval-heatmap",
            scale=2,
        )
    with gr.Accordion("Full report", open=False):
        report_file = gr.File(label="report.json", interactive=False)
        text = gr.Code(label="Tables by language", language=None)
    button.click(
        evaluate_fn(ctx),
        [folder, chosen_models, modes, second, corrections, prompts],
        [summary, table, bars, heatmap, report_file, text],
        api_name="evaluate",
        concurrency_id="evaluate",
        concurrency_limit=1,
        show_progress_on=summary,  # one progress bar, not one over every output
    )
