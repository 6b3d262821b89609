"""The Gradio app: four tabs over one SearchApp, bound to localhost, queued.

``build_app`` only builds (tests launch it on a free port); ``serve`` launches
with the app's safety settings; ``launch`` is what ``python app.py`` calls.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import gradio as gr
from gradio.utils import get_upload_folder
from starlette.middleware import Middleware

from search.application.search_app import SearchApp
from ui.choices import (
    collection_choices,
    compare_defaults,
    default_collection_choice,
    language_choices,
    mode_choices,
)
from ui.context import UiContext, make_context
from ui.render import CSS, message, progress_html
from ui.server import HostGuard, check_port, document_route, served_names
from ui.tabs_compare import CompareTab, build_compare_tab
from ui.tabs_evaluate import build_evaluate_tab
from ui.tabs_index import build_index_tab
from ui.tabs_search import SearchTab, build_search_tab

log = logging.getLogger("ui")

TITLE = "Multilingual semantic search"
# System fonts only: the default theme would fetch Google Fonts, and this app runs offline.
THEME = gr.themes.Soft(
    font=["ui-sans-serif", "system-ui", "Segoe UI", "Noto Sans", "sans-serif"],
    font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "monospace"],
)
# Queries come in any script: every text box takes its direction from what is typed (dir=auto),
# as the result cards do. Gradio only offers a fixed ltr/rtl, so the page sets it on each box it adds.
DIR_AUTO_HEAD = """<script>
(() => {
  const boxes = 'textarea, input[type=text], input:not([type])';
  const mark = () => document.querySelectorAll(boxes).forEach((box) => {
    if (box.getAttribute('dir') !== 'auto') box.setAttribute('dir', 'auto');
  });
  const start = () => {
    mark();
    new MutationObserver(mark).observe(document.body, {
      childList: true, subtree: true, attributes: true, attributeFilter: ['dir'],
    });
  };
  if (document.body) start(); else document.addEventListener('DOMContentLoaded', start);
})();
</script>"""
DEFAULT_CONCURRENCY = 2  # searches at once; the model is the bottleneck on a small CPU
MAX_QUEUE = 64  # waiting requests beyond this are refused rather than piling up
# Gradio's temporary copies (uploads it received, charts it served) older than an hour go every ten minutes;
# uploads are deleted as soon as they are saved (ui.tabs_index).
DELETE_CACHE = (600, 3600)


def _refresh_pickers(
    ctx: UiContext, search: SearchTab, compare: CompareTab
) -> tuple[list[Any], list[Any], Any]:
    """Inputs, outputs and a function that reloads every collection picker (after indexing, on page load).

    Each picker keeps its value when that collection still exists, else gets its default: the
    Compare pickers too, so collections that appear after the page was built (first-launch
    indexing) are selected, not only listed.
    """
    inputs: list[Any] = [search.collection, *(p.collection for p in compare.pipelines)]
    outputs: list[Any] = [search.collection, search.languages, search.mode]
    for pipeline in compare.pipelines:
        outputs += [pipeline.collection, pipeline.mode]

    def refresh(current: str | None = None, *compared: str | None) -> list[Any]:
        choices = collection_choices(ctx.app)
        names = [name for _, name in choices]
        value = current if current in names else default_collection_choice(ctx.app)
        modes = mode_choices(ctx.app, value)
        updates: list[Any] = [
            gr.update(choices=choices, value=value),
            gr.update(choices=language_choices(ctx.app, value)),
            gr.update(choices=modes, value=modes[0]),
        ]
        defaults = compare_defaults(ctx.app)
        for i, _ in enumerate(compare.pipelines):
            kept = compared[i] if i < len(compared) and compared[i] in names else None
            if kept is not None:
                updates += [gr.update(choices=choices, value=kept), gr.update()]
                continue
            collection, mode = defaults[i]
            updates += [gr.update(choices=choices, value=collection), gr.update(value=mode)]
        return updates

    return inputs, outputs, refresh


def _bootstrap_status(ctx: UiContext) -> tuple[str, bool]:
    """(status HTML, still running) of the first-launch sample indexing."""
    if ctx.bootstrap is None:
        return "", False
    status = ctx.bootstrap.status()
    if status.state in ("idle", "skipped"):
        return "", status.state == "idle"
    if status.state == "running":
        return (
            progress_html(
                status.message, status.files_done, status.files_total, status.step_label, status.step_seconds
            ),
            True,
        )
    kind = "err" if status.state == "failed" else "info"
    return message(status.message, kind), False


def build_app(app: SearchApp, sample_folder: Path | None = None) -> gr.Blocks:
    """The Blocks app; ``sample_folder`` enables first-launch indexing of its documents (started by ``serve``)."""
    ctx = make_context(app, sample_folder)
    with gr.Blocks(title=TITLE, analytics_enabled=False, delete_cache=DELETE_CACHE) as demo:
        gr.Markdown(
            f"# {TITLE}\nSearch your documents in any language, compare models, measure retrieval quality."
        )
        with gr.Tabs():
            with gr.Tab("Search", id="search"):
                search = build_search_tab(ctx)
            with gr.Tab("Compare", id="compare"):
                compare = build_compare_tab(ctx)
            with gr.Tab("Evaluate", id="evaluate"):
                build_evaluate_tab(ctx)
            with gr.Tab("Index", id="index"):
                index = build_index_tab(ctx)
        inputs, outputs, refresh = _refresh_pickers(ctx, search, compare)
        index.folder_event.then(refresh, inputs, outputs, api_visibility="private")
        index.upload_event.then(refresh, inputs, outputs, api_visibility="private")
        demo.load(refresh, inputs, outputs, api_visibility="private")
        if ctx.bootstrap is not None:
            timer = gr.Timer(1.0, active=True)

            def poll(current: str | None) -> list[Any]:
                html, running = _bootstrap_status(ctx)
                updates: list[Any] = [gr.update(value=html, visible=bool(html)), gr.Timer(active=running)]
                if running:
                    return updates + [gr.update() for _ in outputs]
                # Once, as the timer stops: Compare gets its defaults (two models) now that they exist.
                return updates + refresh(current)

            timer.tick(poll, [search.collection], [search.status, timer, *outputs], api_visibility="private")
    demo.ui_context = ctx  # type: ignore[attr-defined]  # lets serve() start the bootstrap; tests inspect it
    return demo


def launch_options(app: SearchApp, ctx: UiContext | None = None, port: int | None = None) -> dict[str, Any]:
    """Safety settings for ``Blocks.launch``: localhost by default, no share link, size-limited uploads.

    Gradio serves files below its ``allowed_paths`` to anyone: only the Evaluate tab's charts and
    reports (``ui-runs``) are there. Documents are served by the app's own route (ui.server), only
    as the source of a search result; the folders they live in are blocked from Gradio's route.
    """
    settings = app.settings
    port = port if port is not None else settings.port
    allowed = [str(ctx.outputs_dir)] if ctx is not None else []
    app_kwargs: dict[str, Any] = {
        "middleware": [Middleware(HostGuard, allowed=served_names(settings.host, port))]
    }
    if ctx is not None:
        app_kwargs["routes"] = [document_route(app, lambda: ctx.open_roots)]
    return {
        "server_name": settings.host,
        "share": False,
        "max_file_size": f"{int(settings.max_upload_mb)}mb",
        "allowed_paths": allowed,
        "blocked_paths": blocked_paths(app, ctx),
        "app_kwargs": app_kwargs,
        "ssr_mode": False,
        "mcp_server": False,
        "pwa": False,
        "theme": THEME,
        "css": CSS,
        "head": DIR_AUTO_HEAD,
        "footer_links": ["api", "settings"],
        "show_error": False,
        "enable_monitoring": False,
    }


def blocked_paths(app: SearchApp, ctx: UiContext | None) -> list[str]:
    """Folders Gradio's file route must never serve, even if something of theirs became one of its files:
    the documents' folders, the index and the model cache (never one holding the charts or Gradio's own
    temporary folder, which it needs)."""
    settings = app.settings
    folders = [*(ctx.open_roots if ctx is not None else settings.allowed_roots), settings.data_dir / "qdrant"]
    folders.append(settings.cache_dir)
    needed = [Path(get_upload_folder()).resolve(), *([ctx.outputs_dir.resolve()] if ctx is not None else [])]
    out = []
    for folder in (Path(f).resolve() for f in folders):
        if not any(folder == n or folder in n.parents for n in needed):
            out.append(str(folder))
    return out


def serve(demo: gr.Blocks, app: SearchApp, port: int | None = None, block: bool = True) -> str:
    """Start the server, then the sample bootstrap (if any); returns the local URL when not blocking.

    Gradio's own start-up lines are left out (``quiet``): one of them suggests ``share=True``, which
    this app turns off on purpose. The address is printed here instead, before the first-launch
    steps draw their progress below it.
    """
    ctx: UiContext | None = getattr(demo, "ui_context", None)
    if ctx is not None:
        ctx.outputs_dir.mkdir(parents=True, exist_ok=True)
    demo.queue(default_concurrency_limit=DEFAULT_CONCURRENCY, max_size=MAX_QUEUE)
    port = port if port is not None else app.settings.port
    check_port(app.settings.host, port)
    _, url, _ = demo.launch(
        server_port=port,
        prevent_thread_lock=True,
        quiet=True,
        **launch_options(app, ctx, port),
    )
    if block:
        print(f"Multilingual search is running on {url} (Ctrl-C to stop)", flush=True)
    if ctx is not None and ctx.bootstrap is not None:
        ctx.bootstrap.start(terminal=block)
    if block:
        demo.block_thread()
    return url


def launch(app: SearchApp, sample_folder: Path | None = None) -> None:
    """``python app.py``: build and serve until interrupted."""
    if app.settings.host not in ("127.0.0.1", "localhost", "::1"):
        log.warning(
            "serving on %s: anyone who can reach this address can search and index", app.settings.host
        )
    serve(build_app(app, sample_folder), app, block=True)
