"""Search tab: one query against one collection, results as cards with the matching sentence highlighted."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import gradio as gr

from search.application.bootstrap import sample_documents
from search.application.documents import hit_link, linkable
from search.application.searching import HIGHLIGHTS, MAX_UI_K, SearchOutcome, SearchRequest, make_request
from ui.choices import (
    AS_RECORDED,
    AUTO_LANGUAGE,
    NO_SECOND_STAGE,
    all_modes,
    chosen_correction,
    chosen_prompt,
    collection_choices,
    correction_choices,
    default_collection_choice,
    example_queries,
    language_choices,
    mode_choices,
    query_language_choices,
    second_stage_choices,
)
from ui.context import UiContext
from ui.errors import user_message, warn
from ui.render import message, result_cards, timings_text


@dataclass(frozen=True)
class SearchTab:
    collection: gr.Dropdown
    languages: gr.Dropdown
    mode: gr.Radio
    second_stage: gr.Dropdown
    status: gr.HTML


def outcome_json(outcome: SearchOutcome) -> dict[str, Any]:
    """The results as data, for API clients (gradio_client) and the 'raw results' panel."""
    result = outcome.result
    return {
        "query": result.query,
        "collection": result.collection,
        "model": result.model,
        "mode": result.mode,
        "second_stage": result.reranker,
        "highlight": outcome.request.highlight,
        "timings_ms": dict(outcome.timings_ms),
        "query_language": result.query_language.code if result.query_language else None,
        "query_language_given": bool(result.query_language and result.query_language.given),
        "warnings": list(outcome.warnings),  # languages the model does not support, and the like
        "relevance_note": outcome.cue_note,  # why the hits carry no relevance cue, when they do not
        **outcome.variant,  # the correction searched and the query prompt applied (and who set it)
        "hits": [
            {
                "rank": rank,
                "score": round(hit.score, 5),
                "relevance": outcome.cues[rank - 1] if rank <= len(outcome.cues) else None,
                "source": hit.relpath,
                "page": hit.page,
                "language": hit.language,
                # read by OCR (a scanned page or an image): the engine's mean word confidence, 0-100
                "ocr": {"engine": "tesseract", "confidence": hit.ocr} if hit.ocr is not None else None,
                "heading": hit.heading,
                "text": hit.text,
                "highlight": [mark.start, mark.end] if mark else None,
            }
            for rank, (hit, mark) in enumerate(zip(result.hits, outcome.highlights), 1)
        ],
    }


Rendered = tuple[str, str, dict[str, Any]]  # result cards (HTML), summary (Markdown), hits (JSON)


def render_outcome(ctx: UiContext, outcome: SearchOutcome) -> Rendered:
    result = outcome.result
    state = sample_state(ctx, result.collection)
    if state is not None and not result.hits:  # not "try fewer filters": the documents are not in yet
        return _not_ready(state)
    language = result.query_language.label if result.query_language else "undetermined"
    summary = _indexing_note(ctx, result.collection) + (
        f"{len(result.hits)} results from **{result.collection}** ({result.model}, {result.mode}"
        + (f" + {result.reranker}" if result.reranker else "")
        + f") · query language: **{language}** · {timings_text(outcome.timings_ms)}"
        + "".join(f"\n\n⚠ {warning}" for warning in outcome.warnings)
        + (f"\n\n{outcome.cue_note}" if outcome.cue_note else "")
    )
    roots = ctx.open_roots
    marks = list(outcome.highlights) + [None] * (len(result.hits) - len(outcome.highlights))
    links = [
        hit_link(
            result.collection,
            hit.chunk_id,
            hit.source,
            hit.page,
            hit.text[mark.start : mark.end] if mark is not None else hit.text,
        )
        if linkable(hit.source, roots)
        else None
        for hit, mark in zip(result.hits, marks)
    ]
    return (
        result_cards(
            result.hits,
            outcome.highlights,
            outcome.request.highlight,
            links,
            outcome.cues,
            result.mode if not result.reranker else "rerank",
        ),
        summary,
        outcome_json(outcome),
    )


def still_indexing(ctx: UiContext, collection: str | None) -> str | None:
    """The one answer to a search of a collection the first launch is still writing, before it exists.

    Without it the search would say "No collection yet: index a folder…", which contradicts the
    banner saying the sample documents are being indexed.
    """
    state = sample_state(ctx, collection)
    if state is None:
        return None
    if ctx.app.catalog.get(collection or ctx.bootstrap.collection) is not None:  # type: ignore[union-attr]
        return None  # searchable already: results, said to be partial (or this message when there are none)
    return state


def sample_state(ctx: UiContext, collection: str | None) -> str | None:
    """What the first launch is doing, in the banner's words, when it still writes ``collection``;
    None for any other collection (the user's own folder is not 'still being indexed')."""
    bootstrap = ctx.bootstrap
    if bootstrap is None or not bootstrap.writes(collection or bootstrap.collection):
        return None
    where = bootstrap.status().where
    return (
        f"The sample documents are still being indexed{f' ({where})' if where else ''}. "
        "Search again in a moment: the banner above says when they are ready."
    )


def _not_ready(text: str) -> Rendered:
    return message(text, "info"), "", {"error": text}


def _failure(exc: Exception) -> Rendered:
    text = user_message(exc)
    warn(text)
    return message(text, "warn"), "", {"error": text}


def _request(
    ctx: UiContext,
    query: str,
    collection: str | None,
    languages: Sequence[str] | None,
    k: float,
    mode: str,
    second_stage: str | None,
    highlight: str,
    query_language: str | None,
    correction: str | None,
    query_prompt: str | None,
) -> SearchRequest:
    """The search request of the page's values (both search endpoints read them alike)."""
    # No collection picked (an API client, a page loaded before the first index): the default one.
    return make_request(
        query,
        collection or ctx.app.default_collection(),
        languages,
        k,
        mode,
        second_stage,
        highlight,
        query_language=query_language,
        correction=chosen_correction(correction),
        query_prompt=chosen_prompt(query_prompt),
    )


def search_fn(ctx: UiContext) -> Callable[..., Rendered]:
    def search(
        query: str,
        collection: str | None,
        languages: Sequence[str] | None,
        k: float,
        mode: str,
        second_stage: str | None,
        highlight: str,
        query_language: str | None = AUTO_LANGUAGE,
        correction: str | None = None,
        query_prompt: str | None = None,
    ) -> Rendered:
        """Search a collection; returns result cards (HTML), a summary with timings, and the hits as JSON.

        ``query_language``: "auto" to detect it (the summary and JSON say what was detected), or an ISO code.
        ``correction``: "as recorded", raw, corrected or vote; ``query_prompt``: empty for the model's.
        """
        waiting = still_indexing(ctx, collection)
        if waiting is not None:
            return _not_ready(waiting)
        try:
            request = _request(
                ctx,
                query,
                collection,
                languages,
                k,
                mode,
                second_stage,
                highlight,
                query_language,
                correction,
                query_prompt,
            )
            return render_outcome(ctx, ctx.app.search(request))
        except Exception as exc:  # noqa: BLE001 - refused paths and failures become messages
            return _failure(exc)

    return search


def first_pass_fn(ctx: UiContext) -> Callable[..., tuple[str, str, dict[str, Any], SearchOutcome | None]]:
    """The page's search: results with the instant lexical highlight, and the outcome kept for the second pass."""

    def first_pass(
        query: str,
        collection: str | None,
        languages: Sequence[str] | None,
        k: float,
        mode: str,
        second_stage: str | None,
        highlight: str,
        query_language: str | None = AUTO_LANGUAGE,
        correction: str | None = None,
        query_prompt: str | None = None,
    ) -> tuple[str, str, dict[str, Any], SearchOutcome | None]:
        first = "lexical" if highlight == "semantic" else highlight
        waiting = still_indexing(ctx, collection)
        if waiting is not None:
            return (*_not_ready(waiting), None)
        try:
            request = _request(
                ctx,
                query,
                collection,
                languages,
                k,
                mode,
                second_stage,
                first,
                query_language,
                correction,
                query_prompt,
            )
            outcome = ctx.app.search(request)
        except Exception as exc:  # noqa: BLE001
            return (*_failure(exc), None)
        pending = outcome if highlight == "semantic" else None
        return (*render_outcome(ctx, outcome), pending)

    return first_pass


def second_pass_fn(ctx: UiContext) -> Callable[[SearchOutcome | None], Any]:
    """Re-render with the model-picked sentences once they are known."""

    def second_pass(pending: SearchOutcome | None) -> Any:
        if pending is None or not pending.result.hits:
            return gr.update(), gr.update(), gr.update()
        try:
            return render_outcome(ctx, ctx.app.highlight(pending, "semantic"))
        except Exception as exc:  # noqa: BLE001 - every failure becomes a message on the page
            warn(user_message(exc))
            return gr.update(), gr.update(), gr.update()

    return second_pass


def _indexing_note(ctx: UiContext, collection: str) -> str:
    """Results are partial while the first launch still writes the collection searched (only that one)."""
    bootstrap = ctx.bootstrap
    if bootstrap is None or not bootstrap.writes(collection):
        return ""
    where = bootstrap.status().where
    return f"⏳ Still indexing the sample documents{f' ({where})' if where else ''}: results are partial. "


def collection_changed(ctx: UiContext) -> Callable[[str | None], tuple[Any, Any]]:
    def changed(collection: str | None) -> tuple[Any, Any]:
        modes = mode_choices(ctx.app, collection)
        return gr.update(choices=language_choices(ctx.app, collection), value=[]), gr.update(
            choices=modes, value=modes[0]
        )

    return changed


def build_search_tab(ctx: UiContext) -> SearchTab:
    app = ctx.app
    choices = collection_choices(app)
    initial = default_collection_choice(app)
    gr.Markdown(
        "Ask in any language: the model matches meaning across languages, so a German question finds "
        "English, Chinese or Arabic passages. The highlighted sentence is the one closest to your query."
    )
    status = gr.HTML(visible=ctx.bootstrap is not None)
    with gr.Row():
        query = gr.Textbox(
            label="Query",
            placeholder="e.g. Warum sterben Bienenvölker im Winter?",
            scale=5,
            max_lines=3,
            autofocus=True,
            elem_id="search-query",
        )
        button = gr.Button("Search", variant="primary", scale=1, elem_id="search-button")
    with gr.Row():
        # Custom values are allowed because collections appear after launch (sample bootstrap, Index tab) and
        # API clients only see the build-time choices; SearchApp.search checks the name against the catalog instead.
        collection = gr.Dropdown(
            choices=choices,
            value=initial,
            label="Collection (model)",
            allow_custom_value=True,
            scale=4,
            min_width=320,
            elem_id="search-collection",
        )
        languages = gr.Dropdown(
            choices=language_choices(app, initial),
            value=[],
            multiselect=True,
            allow_custom_value=True,
            label="Only passages in these languages (empty = all)",
            scale=3,
            elem_id="search-languages",
        )
        k = gr.Slider(1, MAX_UI_K, value=10, step=1, label="Results (top-k)", scale=1, min_width=160)
    with gr.Row():
        # All modes for API clients (the searcher refuses one a collection lacks); pages narrow it per collection.
        mode = gr.Radio(
            all_modes(),
            value="dense",
            label="Retrieval",
            info="sparse/hybrid need a collection with sparse vectors",
            elem_id="search-mode",
        )
        stages = second_stage_choices(app)
        second_stage = gr.Dropdown(
            stages,
            value=NO_SECOND_STAGE,
            label="Second stage",
            info="rerankers available on this machine",
            interactive=len(stages) > 1,
        )
        highlight = gr.Radio(
            list(HIGHLIGHTS),
            value="semantic",
            label="Highlight",
            info="semantic: the model picks the sentence (works across languages); lexical: shared words",
        )
        query_language = gr.Dropdown(
            query_language_choices(),
            value=AUTO_LANGUAGE,
            label="Query language",
            info="auto: detected (shown with the results); set it when a short query is misread",
            allow_custom_value=True,
            elem_id="search-query-language",
        )
    with gr.Accordion("Advanced: vectors and query prompt", open=False), gr.Row():
        correction = gr.Dropdown(
            correction_choices(),
            value=AS_RECORDED,
            label="Language correction",
            info="search the collection's vectors as another variant; scores stay that variant's own "
            "(no relevance cue: it is calibrated for the collection's own)",
            elem_id="search-correction",
        )
        query_prompt = gr.Textbox(
            value="",
            label="Query prompt",
            placeholder="empty: the model's own (e5: 'query: ')",
            info="put before the query instead of the model's; for an instruction-tuned model, the "
            "instruction. Passages keep the prompt they were indexed with",
            max_lines=3,
            elem_id="search-query-prompt",
        )
    examples = example_queries(ctx.queryset_folder)
    # Queries about the sample documents: shown only while a collection of them is selected.
    with gr.Column(visible=bool(examples) and speaks_of_samples(ctx, initial)) as examples_box:
        if examples:
            gr.Examples(
                examples=[[q] for q in examples], inputs=[query], label="Example queries (sample documents)"
            )
    summary = gr.Markdown(elem_id="search-summary")
    results = gr.HTML(elem_id="search-results")
    with gr.Accordion("Raw results (JSON)", open=False):
        raw = gr.JSON()

    pending = gr.State(None)
    inputs = [
        query,
        collection,
        languages,
        k,
        mode,
        second_stage,
        highlight,
        query_language,
        correction,
        query_prompt,
    ]
    outputs = [results, summary, raw]
    # The page searches in two steps (results at once, then the model's highlight); API clients get
    # both in one call through this endpoint, which has no button of its own.
    api_trigger = gr.Button(visible=False)
    api_trigger.click(search_fn(ctx), inputs, outputs, api_name="search", concurrency_id="search")
    for trigger in (button.click, query.submit):
        trigger(
            first_pass_fn(ctx), inputs, [*outputs, pending], api_visibility="private", concurrency_id="search"
        ).then(second_pass_fn(ctx), [pending], outputs, api_visibility="private", concurrency_id="search")
    collection.change(collection_changed(ctx), [collection], [languages, mode], api_visibility="private")
    collection.change(
        samples_shown(ctx, bool(examples)), [collection], [examples_box, status], api_visibility="private"
    )
    return SearchTab(collection, languages, mode, second_stage, status)


def speaks_of_samples(ctx: UiContext, collection: str | None) -> bool:
    """Whether text about the sample documents (example queries, the first launch's closing banner)
    fits the collection selected: one built from the sample documents, or none yet."""
    if ctx.sample_folder is None:
        return False
    info = ctx.app.catalog.get(collection) if collection else None
    if info is None or not info.documents:
        return True  # nothing indexed yet: the first launch is about to index the samples
    return info.documents <= {sample_documents(ctx.sample_folder).absolute().as_posix()}


def samples_shown(ctx: UiContext, have_examples: bool) -> Callable[[str | None], tuple[Any, Any]]:
    def shown(collection: str | None) -> tuple[Any, Any]:
        samples = speaks_of_samples(ctx, collection)
        running = ctx.bootstrap is not None and ctx.bootstrap.status().state == "running"
        return gr.update(visible=have_examples and samples), gr.update(visible=running or samples)

    return shown
