"""Supported file types, their size limits, and the one error every extractor raises.

Kept apart from the extractors so that walking a folder never imports a parser.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from indexer.ocr.pages import PageReader
from search.core.errors import AppError
from search.core.formats import FORMATS as FORMATS  # where extractors and the walk look them up
from search.core.formats import format_of as format_of
from search.core.types import Section
from search.text.language import DEFAULT_DETECTOR, LanguageDetector

MB = 1024 * 1024

TEXT_FORMATS = frozenset({"html", "md", "txt"})  # read whole into memory, so a tighter limit
ZIP_FORMATS = frozenset({"docx", "pptx", "epub"})


class ExtractionError(AppError):
    """A file that cannot be turned into text; ``str(exc)`` is a one-line reason for the user."""

    def __init__(self, reason: str) -> None:
        reason = " ".join(reason.split())  # one line, whatever a parser put in its message
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Extracted:
    """What every format extractor returns: sections in reading order and a display title."""

    sections: tuple[Section, ...]
    title: str


@dataclass(frozen=True)
class LoaderConfig:
    """Limits that keep one hostile or huge file from exhausting memory or time."""

    max_text_bytes: int = 10 * MB  # .txt .md .html: decoded and parsed in memory
    max_binary_bytes: int = 200 * MB  # .pdf .docx .pptx .epub: parsed page by page / part by part
    max_unzipped_bytes: int = 500 * MB  # total uncompressed size of a DOCX/PPTX/EPUB
    max_zip_ratio: float = 100.0  # uncompressed / compressed; office XML is typically 3-15x
    max_zip_members: int = 20_000
    max_pdf_pages: int = 20_000
    language_detector: LanguageDetector = DEFAULT_DETECTOR  # tells documents' and chunks' languages
    # reads scanned PDF pages and images (Tesseract, found on first use); None: they are reported, not read
    ocr: PageReader | None = field(default_factory=PageReader)

    def size_limit(self, fmt: str) -> int:
        return self.max_text_bytes if fmt in TEXT_FORMATS else self.max_binary_bytes


def human_size(n: int) -> str:
    if n >= MB:
        return f"{n / MB:.1f} MB"
    if n >= 1024:
        return f"{n / 1024:.1f} KB"
    return f"{n} bytes"


def describe(exc: BaseException, limit: int = 160) -> str:
    """``Type: message`` on one line and bounded in length, for parser failures."""
    message = " ".join(str(exc).split())
    if len(message) > limit:
        message = message[: limit - 1] + "…"
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__
