"""The indexer behind the application layer's ``Indexer`` port (search/application/ports.py).

``search`` never imports ``indexer``: whatever builds the app passes ``FolderIndexer`` in
(``app.py``; the UI and test builders). It owns what only the indexer knows: the engine's
configuration, how text files are decoded, and the OCR engine with its cache of read pages.
"""

from __future__ import annotations

import codecs
import os
import threading
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from indexer.extract.decode import HEAD_BYTES, detect_encoding
from indexer.extract.formats import ExtractionError
from indexer.ocr.cache import OcrCache
from indexer.ocr.pages import OcrOptions, PageReader
from indexer.ocr.status import ocr_report
from indexer.pipeline import IndexConfig, index_documents, index_folder
from search.core.reports import IndexReport, OcrEngineReport, ProgressFn
from search.core.settings import IndexOptions, Settings
from search.core.types import Document
from search.space.vector_space import VectorSpace
from search.stores.base import VectorStore


class FolderIndexer:
    """Index runs with the process's settings: OCR on or off, its languages, the cache of read pages."""

    def __init__(self, settings: Settings | None = None) -> None:
        self._settings = settings
        self._ocr: PageReader | None = None
        self._lock = threading.Lock()

    def text_encoding(self, fd: int, utf8: bool, html: bool) -> str | None:
        try:
            encoding = detect_encoding(os.pread(fd, HEAD_BYTES, 0), lambda: utf8, html)
        except ExtractionError:
            return None
        return codecs.lookup(encoding.name).name

    def page_reader(self) -> PageReader | None:
        """OCR of scanned pages and images (None when the settings turn it off, or without settings):
        one engine, found on first use, and one cache of read pages beside the models."""
        settings = self._settings
        if settings is None or not settings.ocr:
            return None
        with self._lock:
            if self._ocr is None:
                options = OcrOptions(languages=settings.ocr_languages)
                self._ocr = PageReader(options, OcrCache.in_dir(settings.cache_dir))
            return self._ocr

    def config(self, options: IndexOptions | None) -> IndexConfig:
        """The engine's configuration for a run: its defaults, what ``options`` sets, this OCR reader."""
        config = IndexConfig()
        if options is not None:
            config = replace(
                config,
                chunk_tokens=options.chunk_tokens or config.chunk_tokens,
                overlap_tokens=config.overlap_tokens
                if options.overlap_tokens is None
                else options.overlap_tokens,
                batch_size=options.batch_size or config.batch_size,
                optimize=options.optimize,
            )
            if options.max_file_mb:
                config = config.with_max_file_mb(options.max_file_mb)
        return replace(config, loader=replace(config.loader, ocr=self.page_reader()))

    def index_folder(
        self,
        folder: Path,
        space: VectorSpace,
        store: VectorStore,
        collection: str,
        *,
        options: IndexOptions | None = None,
        progress: ProgressFn | None = None,
        cancel: threading.Event | None = None,
    ) -> IndexReport:
        return index_folder(
            folder,
            space,
            store,
            collection,
            config=self.config(options),
            progress=progress,
            cancel=cancel,
        )

    def index_documents(
        self,
        documents: Sequence[Document],
        space: VectorSpace,
        store: VectorStore,
        collection: str,
        *,
        options: IndexOptions | None = None,
        progress: ProgressFn | None = None,
    ) -> IndexReport:
        return index_documents(
            documents,
            space,
            store,
            collection,
            config=self.config(options),
            progress=progress,
        )

    def ocr_report(self) -> OcrEngineReport:
        return ocr_report(self.page_reader())

    def close(self) -> None:
        if self._ocr is not None and self._ocr.cache is not None:
            self._ocr.cache.close()
