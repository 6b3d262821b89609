"""One index run's OCR counts: pages read, taken from the cache, cut off or not read, and what to install."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

from indexer.ocr.languages import install_command, packs_for_languages
from indexer.ocr.pages import OcrEvent
from search.core.reports import OcrSummary, SkippedFile


class OcrTally:
    """Fed by the producer thread (the pages' listener), read by the run's progress and report."""

    def __init__(self, shown: Callable[[str], str], on_page: Callable[[], None] | None = None) -> None:
        self._shown = shown  # source -> the path reports show
        self._on_page = on_page
        self._lock = threading.Lock()
        self.read = 0
        self.cached = 0
        self.seconds = 0.0
        self._problems: list[SkippedFile] = []
        self._packs: set[str] = set()
        self._engine_missing = False

    @property
    def pages(self) -> int:
        """Pages whose text came from OCR in this run, read now or from the cache."""
        return self.read + self.cached

    def __call__(self, event: OcrEvent) -> None:
        with self._lock:
            if event.kind == "read":
                self.read += 1
                self.seconds += event.seconds
            elif event.kind == "cached":
                self.cached += 1
            else:
                where = f"{self._shown(event.source)} p. {event.page}"
                self._problems.append(SkippedFile(where, event.reason))
                if event.kind == "unavailable":
                    self._packs.update(event.packs)
                    self._engine_missing |= event.engine_missing
        if self._on_page is not None:
            self._on_page()

    def summary(self, languages_seen: Iterable[str] = ()) -> OcrSummary:
        """The run's OCR line; the install command names the packs for the scripts and languages seen
        (with no engine and nothing else known: the languages of the run's text)."""
        with self._lock:
            packs = set(self._packs)
            if self._engine_missing and not packs:
                packs.update(packs_for_languages(languages_seen))
            install = (
                install_command(sorted(packs), engine=self._engine_missing)
                if self._problems and (packs or self._engine_missing)
                else ""
            )
            return OcrSummary(
                pages_read=self.read,
                pages_cached=self.cached,
                seconds=round(self.seconds, 2),
                not_read=tuple(self._problems),
                install=install,
            )
