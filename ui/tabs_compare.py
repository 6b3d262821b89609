"""Compare tab: one query through two or three pipelines side by side, with overlap@k and latency."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gradio as gr

from search.application.search_app import ComparedSide, PipelineChoice
from search.application.searching import MAX_UI_K
from search.core.eta import EtaMeter, eta_text
from search.core.reports import IndexProgress
from ui.choices import (
    AS_RECORDED,
    NO_SECOND_STAGE,
    all_modes,
    chosen_correction,
    chosen_prompt,
    collection_choices,
    compare_defaults,
    compare_offer,
    correction_choices,
    mode_choices,
    second_stage_choices,
)
from ui.context import UiContext
from ui.errors import user_message, warn
from ui.render import Column, compare_html, message, pair_rows
from ui.tabs_index import index_progress_text

SIDES = 3  # pipelines A, B, C
OVERLAP_HEADERS = ["pipeline A", "pipeline B", "overlap@k (documents)", "only A found", "only B found"]


@dataclass(frozen=True)
class PipelineInputs:
    enabled: gr.Checkbox
    collection: gr.Dropdown
    mode: gr.Radio
    second_stage: gr.Dropdown
    correction: gr.Dropdown  # raw / corrected / vote: the same collection as another variant
    query_prompt: gr.Textbox  # empty: the model's own


@dataclass(frozen=True)
class CompareTab:
    pipelines: tuple[PipelineInputs, ...]
    offer_event: Any  # gradio Dependency: app.py chains a refresh of the pickers after it


def _column(side: ComparedSide) -> Column:
    if side.outcome is None:
        return Column(side.choice.label, error=side.error)
    outcome = side.outcome
    label = f"{outcome.result.model} · {side.choice.label}"
    return Column(label, outcome.result.hits, outcome.timings_ms.get("total"), warnings=outcome.warnings)


def compare_fn(ctx: UiContext) -> Callable[..., tuple[str, list[list[object]], str]]:
    def compare(query: str, k: float, *pipeline_values: Any) -> tuple[str, list[list[object]], str]:
        """Run the enabled pipelines (enabled, collection, mode, second stage) x 3 on one query; then
        (correction, query prompt) x 3, last so that API clients of the four-value layout still work."""
        try:
            top_k = max(1, min(int(k or 10), MAX_UI_K))
        except (TypeError, ValueError):
            top_k = 10
        if not str(query or "").strip():
            warn("Enter a query.")
            return message("Enter a query.", "warn"), [], ""
        choices = []
        sides, variants = pipeline_values[: 4 * SIDES], pipeline_values[4 * SIDES :]
        for side, i in enumerate(range(0, len(sides), 4)):
            enabled, collection, mode, stage = sides[i : i + 4]
            correction, prompt = (*variants[2 * side : 2 * side + 2], None, None)[:2]
            if enabled:
                stage = None if not stage or stage == NO_SECOND_STAGE else stage
                choices.append(
                    PipelineChoice(
                        collection,
                        mode or "dense",
                        stage,
                        correction=chosen_correction(correction),
                        query_prompt=chosen_prompt(prompt),
                    )
                )
        columns = [_column(side) for side in ctx.app.compare(query, top_k, choices)]
        if len(columns) < 2:
            warn("Enable at least two pipelines.")
            return message("Enable at least two pipelines to compare.", "warn"), [], ""
        for col in columns:
            if col.error:
                warn(f"{col.label}: {col.error}")
        latency = " · ".join(
            f"{col.label}: {col.latency_ms:.0f} ms" for col in columns if col.latency_ms is not None
        )
        return compare_html(columns, top_k), pair_rows(columns, top_k), f"Latency per side — {latency}"

    return compare


def _offer_for(ctx: UiContext) -> Callable[[str | None], tuple[Any, Any, str | None]]:
    def offer(collection: str | None) -> tuple[Any, Any, str | None]:
        """Pipeline A changed: say whether another model holds its documents, else offer to index them."""
        try:
            note, model = compare_offer(ctx.app, collection)
        except Exception as exc:  # noqa: BLE001 - a note; the tab works without it
            warn(user_message(exc))
            return gr.update(value=""), gr.update(visible=False), None
        button = gr.update(visible=model is not None, value=f"Index these documents with {model}")
        return gr.update(value=note), button, model

    return offer


def _index_offer_fn(ctx: UiContext) -> Callable[..., tuple[Any, Any, Any, Any]]:
    def index_offer(
        collection: str | None,
        model: str | None,
        progress: gr.Progress = gr.Progress(),  # noqa: B008 - how Gradio injects a progress tracker
    ) -> tuple[Any, Any, Any, Any]:
        """Index pipeline A's documents with the offered model; B then compares the two models."""
        unchanged = (gr.update(), gr.update())
        if not collection or not model:
            return gr.update(), gr.update(visible=False), *unchanged
        if not ctx.index_lock.acquire(blocking=False):
            progress(None, desc="Waiting for the indexing run in progress to finish …")
            ctx.index_lock.acquire()
        try:
            # One index run per folder, each counting its own work from zero: a new meter for each run.
            meters: dict[int, EtaMeter] = {}

            def update(event: IndexProgress) -> None:
                meter = meters.setdefault(event.work_total, EtaMeter())
                progress(event.fraction, desc=index_progress_text(event, eta_text(meter.update(event))))

            reports = ctx.app.index_with_second_model(
                collection, model, progress=update, within=ctx.open_roots
            )
        except Exception as exc:  # noqa: BLE001 - a failed run is a message, the tab stays usable
            text = user_message(exc)
            warn(text)
            return message(text, "err"), gr.update(), *unchanged
        finally:
            ctx.index_lock.release()
        target = reports[-1].collection if reports else None
        chunks = sum(report.chunks_written for report in reports)
        seconds = sum(report.timings.get("total", 0.0) for report in reports)
        note = (
            f"Indexed the documents of **{collection}** with {model} into **{target}**: {chunks:,} passages "
            f"in {seconds:.0f} s. Pipeline B now compares the two models over the same documents."
        )
        choices = collection_choices(ctx.app)
        return (
            gr.update(value=note),
            gr.update(visible=False),
            gr.update(choices=choices, value=target),
            gr.update(value="dense"),
        )

    return index_offer


def _modes_for(ctx: UiContext) -> Callable[[str | None], Any]:
    def modes(collection: str | None) -> Any:
        available = mode_choices(ctx.app, collection)
        return gr.update(choices=available, value=available[0])

    return modes


def _pipeline_inputs(
    ctx: UiContext, index: int, collection: str | None, mode: str, enabled: bool
) -> PipelineInputs:
    name = "ABC"[index]
    with gr.Column(min_width=240):
        gr.Markdown(f"**Pipeline {name}**")
        on = gr.Checkbox(value=enabled, label="use", interactive=index >= 2)
        picked = gr.Dropdown(
            collection_choices(ctx.app),
            value=collection,
            label="Collection (model)",
            allow_custom_value=True,  # collections appear after launch; run_search checks the name
            elem_id=f"compare-col-{index}",
        )
        modes = mode_choices(ctx.app, collection)
        radio = gr.Radio(all_modes(), value=mode if mode in modes else "dense", label="Retrieval")
        stages = second_stage_choices(ctx.app)
        stage = gr.Dropdown(stages, value=NO_SECOND_STAGE, label="Second stage", interactive=len(stages) > 1)
        correction = gr.Dropdown(
            correction_choices(),
            value=AS_RECORDED,
            label="Language correction",
            elem_id=f"compare-correction-{index}",
        )
        prompt = gr.Textbox(
            value="",
            label="Query prompt",
            placeholder="empty: the model's own",
            max_lines=2,
            elem_id=f"compare-prompt-{index}",
        )
    return PipelineInputs(on, picked, radio, stage, correction, prompt)


def build_compare_tab(ctx: UiContext) -> CompareTab:
    # A: the default collection; B: another model's collection if there is one, else the same collection
    # with another retrieval mode. The page's load and the end of first-launch indexing set them again.
    (first, _), (second, second_mode), (third, _) = compare_defaults(ctx.app)
    gr.Markdown(
        "Run one query through two or three pipelines over the same documents — by default two different "
        "models when two have indexed them. **overlap@k** is "
        "the share of top-k documents two pipelines agree on; each column marks the documents only it found, "
        "its latency (embedding + search + second stage) and the languages of its results. A side may be "
        "the same collection as another variant: its language correction (raw, corrected, vote) or its "
        "query prompt."
    )
    with gr.Row():
        query = gr.Textbox(label="Query", scale=5, elem_id="compare-query")
        k = gr.Slider(1, MAX_UI_K, value=10, step=1, label="top-k", scale=2)
        button = gr.Button("Compare", variant="primary", scale=1, elem_id="compare-button")
    with gr.Row():
        pipelines = (
            _pipeline_inputs(ctx, 0, first, "dense", True),
            _pipeline_inputs(ctx, 1, second, second_mode, True),
            _pipeline_inputs(ctx, 2, third, "dense", False),
        )
    try:
        note, offered = compare_offer(ctx.app, first)
    except Exception as exc:  # noqa: BLE001 - a note; the tab is built without it
        warn(user_message(exc))
        note, offered = "", None
    with gr.Row():
        offer_note = gr.Markdown(note, elem_id="compare-offer")
        offer_button = gr.Button(
            f"Index these documents with {offered}",
            visible=offered is not None,
            scale=0,
            min_width=280,
            elem_id="compare-offer-button",
        )
    offer_model = gr.State(offered)
    latency = gr.Markdown(elem_id="compare-latency")
    overlap = gr.Dataframe(
        headers=OVERLAP_HEADERS, label="Overlap", interactive=False, elem_id="compare-overlap"
    )
    columns = gr.HTML(elem_id="compare-results")
    inputs: list[Any] = [query, k]
    for p in pipelines:
        inputs += [p.enabled, p.collection, p.mode, p.second_stage]
    for p in pipelines:
        inputs += [p.correction, p.query_prompt]
    for p in pipelines:
        p.collection.change(_modes_for(ctx), [p.collection], [p.mode], api_visibility="private")
    pipelines[0].collection.change(
        _offer_for(ctx),
        [pipelines[0].collection],
        [offer_note, offer_button, offer_model],
        api_visibility="private",
    )
    offer_event = offer_button.click(
        _index_offer_fn(ctx),
        [pipelines[0].collection, offer_model],
        [offer_note, offer_button, pipelines[1].collection, pipelines[1].mode],
        api_visibility="private",
        concurrency_id="index",
        concurrency_limit=1,
    )
    fn = compare_fn(ctx)
    button.click(fn, inputs, [columns, overlap, latency], api_name="compare", concurrency_id="search")
    query.submit(fn, inputs, [columns, overlap, latency], api_visibility="private", concurrency_id="search")
    return CompareTab(pipelines, offer_event)
