"""What scanned pages turn into: sections marked with their OCR confidence, or a reason why not."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

from indexer.ocr.languages import install_command
from indexer.ocr.pages import OcrEvent, PageText
from search.core.types import Section

_SOURCE: ContextVar[str | None] = ContextVar("ocr_source", default=None)


@contextmanager
def ocr_source(source: str) -> Iterator[None]:
    """Name the document being extracted: its bytes may be read through a descriptor's path
    (``/proc/self/fd/N``), which must not reach the OCR report or its messages."""
    token = _SOURCE.set(source)
    try:
        yield
    finally:
        _SOURCE.reset(token)


def document_name(path: Path) -> str:
    """The name of the document read from ``path``: the one ``ocr_source`` set, else the path itself."""
    return _SOURCE.get() or path.as_posix()


def ocr_sections(page: PageText | None, number: int) -> Iterator[Section]:
    """One section per paragraph of a page read by OCR, each carrying the page's mean confidence."""
    if page is None:
        return
    for paragraph in page.paragraphs:
        yield Section(paragraph, kind="text", page=number, ocr=page.confidence)


@dataclass
class ScanReport:
    pages: int = 0  # pages sent to OCR

    def no_text_reason(self, what: str, problems: Sequence[OcrEvent]) -> str:
        """One line saying why a document that needed OCR yields no text."""
        n = max(self.pages, len(problems))
        pages = f"{n} page{'s' if n != 1 else ''}"
        missing = [p for p in problems if p.engine_missing]
        if missing:
            packs = sorted({code for p in missing for code in p.packs})
            return (
                f"no extractable text ({what}: {pages} need OCR and Tesseract is not installed; "
                f"install it with: {install_command(packs)})"
            )
        for kind in ("unavailable", "cut_off", "failed"):
            first = next((p for p in problems if p.kind == kind), None)
            if first is not None:
                return f"no extractable text ({what}: page {first.page}: {first.reason})"
        return f"no extractable text ({what}: OCR found no legible text on {pages})"
