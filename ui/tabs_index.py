"""Index tab: a folder inside the allowed roots, or uploaded files, into a model's collection."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
from gradio.utils import get_upload_folder

from search.application.access import (
    SUPPORTED_SUFFIXES,
    check_collection_name,
    resolve_allowed_folder,
    save_uploads,
    tidy_upload,
)
from search.core.display import shown_name
from search.core.errors import NotAllowedError
from search.core.reports import IndexProgress, IndexReport
from ui.choices import model_choices, model_picker_choices, models_needing_download
from ui.context import UiContext
from ui.errors import user_message, warn
from ui.render import esc_name, index_report_html, message


@dataclass(frozen=True)
class IndexTab:
    folder_event: Any  # gradio Dependency: app.py chains a refresh of the pickers after it
    upload_event: Any


def checked_model(ctx: UiContext, model: str | None) -> str:
    """Only models offered in the picker: a free-form value could name any folder on the server."""
    allowed = model_choices(ctx.app)
    if not model:
        return allowed[0]
    if model not in allowed:
        raise NotAllowedError(f"Unknown model {model!r}; choose one of the listed models.")
    return model


def run_index(
    ctx: UiContext, folder: Path, model: str, collection: str | None, progress: gr.Progress
) -> IndexReport:
    """One index run at a time (the sample bootstrap included); waits for a running one."""
    if not ctx.index_lock.acquire(blocking=False):
        progress(None, desc="Waiting for the indexing run in progress to finish …")
        ctx.index_lock.acquire()
    try:
        progress(0, desc="Loading the model and scanning the folder …")

        def update(event: IndexProgress) -> None:
            ocr = f" · {event.pages_ocr} pages OCR'd" if event.pages_ocr else ""
            progress(
                (event.files_done, max(event.files_total, 1)),
                desc=f"Indexing {shown_name(event.current)}{ocr}",
                unit="files",
            )

        return ctx.app.index_folder(folder, model, collection, progress=update, cancel=threading.Event())
    finally:
        ctx.index_lock.release()


def _collection(value: str | None) -> str | None:
    return check_collection_name(value) if value and value.strip() else None


def index_folder_fn(ctx: UiContext) -> Callable[..., str]:
    def index_folder(
        folder: str,
        model: str,
        collection: str,
        progress: gr.Progress = gr.Progress(),  # noqa: B008 - how Gradio injects a progress tracker
    ) -> str:
        """Index a folder on the server (must be inside an allowed root); returns the report as HTML."""
        try:
            path = resolve_allowed_folder(folder, ctx.app.settings.allowed_roots)
            report = run_index(ctx, path, checked_model(ctx, model), _collection(collection), progress)
        except Exception as exc:  # noqa: BLE001 - optional: the cheap tokenizers above still run
            text = user_message(exc)
            warn(text)
            return message(text, "err")
        return index_report_html(report)

    return index_folder


def index_uploads_fn(ctx: UiContext) -> Callable[..., str]:
    def index_uploads(
        files: Sequence[str] | None,
        model: str,
        collection: str,
        progress: gr.Progress = gr.Progress(),  # noqa: B008 - how Gradio injects a progress tracker
    ) -> str:
        """Copy uploaded files into a folder of their own below the app's uploads folder and index it."""
        try:
            if not files:
                raise NotAllowedError("Choose one or more files to upload first.")
            chosen = checked_model(ctx, model)
            name = _collection(collection)
            try:
                saved = save_uploads(files, ctx.uploads_dir, ctx.max_upload_bytes, ctx.uploads_quota_bytes)
            finally:
                discard_received(files)  # Gradio's temporary copies: saved or refused, never kept twice
            refused = "".join(
                message(f"Not indexed: {shown_name(file)}: {reason}", "warn")
                for file, reason in saved.refused
            )
            if saved.folder is None:
                warn("No uploaded file could be indexed.")
                return refused or message("No uploaded file could be indexed.", "warn")
            report = run_index(ctx, saved.folder, chosen, name, progress)
            tidy_upload(saved.folder, [skipped.path for skipped in report.skipped])
        except Exception as exc:  # noqa: BLE001
            text = user_message(exc)
            warn(text)
            return message(text, "err")
        uploaded = ", ".join(esc_name(n) for n in saved.saved)
        return f"<p>Uploaded: {uploaded}</p>{refused}{index_report_html(report)}"

    return index_uploads


def discard_received(files: Sequence[str]) -> None:
    """Delete the copies Gradio kept of uploaded files (each in a folder of its own in its temporary
    folder): 5 uploads of 30 MB left 150 MB there. Only files inside that folder are touched."""
    received = Path(get_upload_folder()).resolve()
    for item in files:
        path = Path(os.path.abspath(item))
        if received not in path.parents or path.is_symlink() or not path.is_file():
            continue
        path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            path.parent.rmdir()  # empty once its one file is gone


def build_index_tab(ctx: UiContext) -> IndexTab:
    settings = ctx.app.settings
    roots = [str(root) for root in settings.allowed_roots]
    gr.Markdown(
        "Index a folder on this server or upload files. Indexing is incremental: unchanged files are skipped, "
        "changed ones replaced. Formats: "
        + ", ".join(sorted({v.upper() for v in SUPPORTED_SUFFIXES.values()}))
        + "."
    )
    with gr.Row():
        models = model_picker_choices(ctx.app)
        model = gr.Dropdown(
            models,
            value=models[0][1],
            label="Embedding model",
            info=models_needing_download(ctx.app),
            scale=3,
            elem_id="index-model",
        )
        collection = gr.Textbox(
            label="Collection (optional)", placeholder="default: one collection per model", scale=2
        )
    with gr.Tab("Folder on this server"):
        folder = gr.Textbox(
            label="Folder",
            placeholder=roots[0] if roots else "",
            info=(
                f"Allowed folders: {', '.join(roots)}"
                if roots
                else "Folder indexing is off: start the app with --allow-root DIR to allow folders."
            ),
            interactive=bool(roots),
            elem_id="index-folder",
        )
        folder_button = gr.Button(
            "Index folder", variant="primary", interactive=bool(roots), elem_id="index-folder-button"
        )
    with gr.Tab("Upload files"):
        files = gr.File(
            file_count="multiple",
            file_types=sorted(SUPPORTED_SUFFIXES),
            type="filepath",
            label=f"Files (up to {settings.max_upload_mb} MB each)",
            elem_id="index-files",
        )
        upload_button = gr.Button("Index uploaded files", variant="primary", elem_id="index-upload-button")
    report = gr.HTML(elem_id="index-report")
    folder_event = folder_button.click(
        index_folder_fn(ctx),
        [folder, model, collection],
        [report],
        api_name="index_folder",
        concurrency_id="index",
        concurrency_limit=1,
    )
    upload_event = upload_button.click(
        index_uploads_fn(ctx),
        [files, model, collection],
        [report],
        api_name="index_uploads",
        concurrency_id="index",
        concurrency_limit=1,
    )
    return IndexTab(folder_event, upload_event)
