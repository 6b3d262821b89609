"""The indexer as the application layer sees it: a small Protocol, so ``search`` never imports ``indexer``.

The one implementation is ``indexer.service.FolderIndexer``; whatever builds the app wires it in
(``app.py``, and the builders the UI tests and benchmarks use): ``SearchApp.build(settings,
indexer_factory=FolderIndexer)``, built once from the app's settings. The application passes what the run needs (the vector space, store,
options) and gets the indexer's report back; decoding and OCR stay the indexer's (the
suffix table both read is search/core/formats.py).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from search.core.reports import IndexReport, OcrEngineReport, ProgressFn
from search.core.settings import IndexOptions
from search.core.types import Document
from search.space.vector_space import VectorSpace
from search.stores.base import VectorStore


class Indexer(Protocol):
    """Index runs, how the indexer decodes text files, and its OCR engine."""

    def text_encoding(self, fd: int, utf8: bool, html: bool) -> str | None:
        """The encoding the indexer decided for an open text file (None: it could not tell)."""
        ...

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
    ) -> IndexReport: ...

    def index_documents(
        self,
        documents: Sequence[Document],
        space: VectorSpace,
        store: VectorStore,
        collection: str,
        *,
        options: IndexOptions | None = None,
        progress: ProgressFn | None = None,
    ) -> IndexReport: ...

    def ocr_report(self) -> OcrEngineReport:
        """The OCR engine index runs would use here: version, packs, how languages are chosen."""
        ...

    def close(self) -> None: ...
