"""Supported file types, their size limits, and the one error every extractor raises.

Kept apart from the extractors so that walking a folder never imports a parser.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from indexer.ocr.pages import PageReader
from search.core.errors import AppError
from search.core.types import Section
from search.text.language import DEFAULT_DETECTOR, LanguageDetector

MB = 1024 * 1024

# suffix (lower case) -> Document.format
FORMATS: dict[str, str] = {
    ".pdf": "pdf",
    ".docx": "docx",
    ".pptx": "pptx",
    ".epub": "epub",
    ".html": "html",
    ".htm": "html",
    ".xhtml": "html",
    ".md": "md",
    ".markdown": "md",
    ".txt": "txt",
    # images: read by OCR, one page per frame (multi-page TIFF)
    ".png": "image",
    ".jpg": "image",
    ".jpeg": "image",
    ".tif": "image",
    ".tiff": "image",
    ".webp": "image",
    ".bmp": "image",
}
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


def format_of(path: Path | str) -> str | None:
    """Document.format for a path, or None for a file type the indexer does not read."""
    return FORMATS.get(Path(path).suffix.lower())


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
