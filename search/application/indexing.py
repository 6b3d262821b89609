"""Indexing with the process's Services: picks the model, collection and sparse encoder consistently."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

from search.application.services import Services, default_collection
from search.core.errors import NotAFolderError
from search.core.reports import IndexInterrupted, IndexReport, ProgressFn
from search.core.settings import IndexOptions
from search.models.embed_cache import CachedEmbedder
from search.models.embedder import Embedder
from search.space.vector_space import check_model


def index_with_services(
    services: Services,
    folder: Path,
    model: str | None = None,
    collection: str | None = None,
    options: IndexOptions | None = None,
    progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
) -> IndexReport:
    """Index ``folder``; an existing collection keeps the model, sparse encoder and language correction
    it was built with (so an upgrade never mixes corrected and raw vectors in one collection)."""
    if not Path(folder).is_dir():  # before loading (or first converting) any model
        raise NotAFolderError(f"not a folder: {folder}")
    existing = services.store.get_meta(collection) if collection else None
    spec = services.model_of(existing) if existing is not None and model is None else services.spec(model)
    name = collection or default_collection(spec.name)
    if name != collection:
        existing = services.store.get_meta(name)
    if existing is not None:  # more writes keep what it records; a model asked for (or named by) must match
        named = model is not None or name != collection
        if named:  # refused before any model is loaded
            check_model(existing, spec, name)
        space = services.space_of(existing, spec.name if named else None, document=True)
    else:
        space = services.space(spec.name, document=True)
    embedder = space.embedder
    hits_before = _cache_hits(embedder)
    try:
        report = services.indexer.index_folder(
            folder, space, services.store, name, options=options, progress=progress, cancel=cancel
        )
    except IndexInterrupted as stopped:
        reused = _cache_hits(embedder) - hits_before
        raise IndexInterrupted(replace(stopped.report, vectors_reused=reused)) from None
    unsupported = {lang: n for lang, n in report.chunks_by_language.items() if not spec.supports(lang)}
    return replace(
        report, vectors_reused=_cache_hits(embedder) - hits_before, unsupported_languages=unsupported
    )


def _cache_hits(embedder: Embedder) -> int:
    return embedder.stats.hits if isinstance(embedder, CachedEmbedder) else 0
