"""Folder -> Documents: the indexer's entry point for files.

``discover`` lists what to read and what cannot be used; ``load_document``
turns one file into a Document or raises ExtractionError with a one-line
reason. Whatever a parser does with a hostile file ends as that error, so one
bad file never stops a run.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from indexer.extract.formats import Extracted, ExtractionError, LoaderConfig, describe, format_of, human_size
from indexer.extract.scans import ocr_source
from indexer.extract.textnorm import normalize_text
from indexer.extract.textstream import PART_CHARS, open_text, text_parts
from indexer.walk import Discovery, FileEntry, Skipped, discover, file_sha256
from search.core.types import Document, Section
from search.text.language import detect_language

__all__ = [
    "Discovery",
    "ExtractionError",
    "FileEntry",
    "LoaderConfig",
    "Skipped",
    "UnreadableFileError",
    "discover",
    "file_sha256",
    "load_document",
    "load_parts",
]

STREAMED_FORMATS = frozenset({"txt", "md", "html"})  # read part by part when larger than a part


class UnreadableFileError(ExtractionError):
    """The file is there but could not be read now (permissions, I/O): what is indexed of it stays."""


def load_document(path: Path, root: Path, config: LoaderConfig, content_hash: str | None = None) -> Document:
    """Extract one file whole; ``content_hash`` saves a second read when the caller already hashed it."""
    parts = list(load_parts(path, root, config, content_hash))
    if len(parts) == 1:
        return parts[0]
    document = replace(parts[0], sections=tuple(s for part in parts for s in part.sections))
    return replace(document, language=detect_language(document.text, detector=config.language_detector))


def load_parts(
    path: Path,
    root: Path,
    config: LoaderConfig,
    content_hash: str | None = None,
    reader: Path | None = None,
) -> Iterator[Document]:
    """Extract one file as Documents of bounded size, in reading order (usually just one).

    ``reader``: where to read the file's bytes, when the caller opened it already (the indexer
    passes ``/proc/self/fd/N`` of the descriptor it checked, see indexer.opened); ``path`` still
    names it (format, source, messages).

    A plain-text or Markdown file larger than a part (PART_CHARS bytes), and HTML of any size
    (one parser for every page: indexer.extract.htmlstream), arrives in parts of about
    PART_CHARS characters (text cut at paragraph breaks, HTML between elements), all
    with the language told from the first, so nothing downstream ever holds more than a part
    of it. Every other format is parsed whole and arrives as one Document. Problems are
    ExtractionErrors with a one-line reason, raised while iterating.
    """
    path = Path(path)
    fmt = format_of(path)
    if fmt is None:
        raise ExtractionError(f"unsupported file type {path.suffix or '(no suffix)'}")
    source = Path(os.path.abspath(path)).as_posix()
    base = Document(source, Path(os.path.abspath(root)).as_posix(), content_hash or "", fmt, ())
    data = Path(reader) if reader is not None else path
    with _reasons(fmt, path, data):
        size = os.stat(data).st_size
        if size > config.size_limit(fmt):
            limit = human_size(config.size_limit(fmt))
            raise ExtractionError(f"too large: {human_size(size)} (limit for {fmt} is {limit})")
        if size == 0:
            raise ExtractionError("empty")
        if not content_hash:
            base = replace(base, content_hash=file_sha256(data))
        if fmt == "html" or (fmt in STREAMED_FORMATS and size > PART_CHARS):  # HTML has one parser
            yield from _streamed_parts(data, base, config)
            return
        sections, title = _extract(fmt, data, config, source)
    sections = tuple(s for s in sections if s.text)
    if not sections:
        raise ExtractionError("empty")
    document = replace(base, sections=sections, title=normalize_text(title))
    yield replace(document, language=detect_language(document.text, detector=config.language_detector))


def _streamed_parts(path: Path, base: Document, config: LoaderConfig) -> Iterator[Document]:
    """A long text, Markdown or HTML file part by part (see load_parts); the language of the
    whole is told from the first part (a million characters), before any part is handed on."""
    if base.format == "html":
        from indexer.extract.htmlstream import html_parts, html_title

        encoding = open_text(path, html=True)
        base = replace(base, title=html_title(path, encoding))
        groups: Iterator[tuple[Section, ...]] = html_parts(path, encoding, PART_CHARS)
    else:
        from indexer.extract.office import text_sections

        parts = text_parts(path, open_text(path), PART_CHARS)
        groups = (text_sections(text, base.format) for text in parts)
    first = True
    for sections in groups:
        sections = tuple(s for s in sections if s.text)
        if not sections:
            continue
        if first:
            part = replace(base, sections=sections)
            base = replace(base, language=detect_language(part.text, detector=config.language_detector))
            if not base.title:
                base = replace(base, title=next((s.text for s in sections if s.kind == "title"), ""))
            first = False
        yield replace(base, sections=sections)
    if first:
        raise ExtractionError("empty")


@contextmanager
def _reasons(fmt: str, path: Path, data: Path | None = None) -> Iterator[None]:
    """Whatever a parser does with a hostile file ends as an ExtractionError with a reason (naming the
    file as ``path``, never as the descriptor path it was read through)."""
    try:
        with _as_reasons(fmt, path):
            yield
    except ExtractionError as exc:
        if data is not None and data != path and str(data) in str(exc):
            raise type(exc)(str(exc).replace(str(data), path.name)) from None
        raise


@contextmanager
def _as_reasons(fmt: str, path: Path) -> Iterator[None]:
    try:
        yield
    except ExtractionError:
        raise
    except PermissionError:
        raise UnreadableFileError("unreadable: permission denied") from None
    except FileNotFoundError as exc:
        if os.path.lexists(path):  # something the parser looked for, not the file itself
            raise ExtractionError(f"{fmt} extraction failed: {describe(exc)}") from None
        raise ExtractionError("disappeared while indexing") from None
    except OSError as exc:
        raise UnreadableFileError(f"unreadable: {exc.strerror or describe(exc)}") from None
    except MemoryError:
        raise ExtractionError(f"{fmt} extraction ran out of memory") from None
    except Exception as exc:  # noqa: BLE001 - never let one file abort a run
        raise ExtractionError(f"{fmt} extraction failed: {describe(exc)}") from None


def _extract(fmt: str, path: Path, config: LoaderConfig, source: str) -> tuple[tuple[Section, ...], str]:
    """``path`` is where the bytes are read (perhaps a descriptor's path); ``source`` names the
    document for the OCR report and its cache, which must never say ``/proc/self/fd/N``."""
    if fmt in ("pdf", "image"):
        with ocr_source(source):
            result = _extractor(fmt)(path, config)
    else:
        result = _extractor(fmt)(path, config)
    return result.sections, result.title


def _extractor(fmt: str) -> Callable[[Path, LoaderConfig], Extracted]:
    """Parsers are imported on first use: discovery alone never pays for unstructured's import."""
    if fmt == "pdf":
        from indexer.extract.pdf import extract_pdf

        return extract_pdf
    if fmt == "epub":
        from indexer.extract.epub import extract_epub

        return extract_epub
    if fmt == "image":
        from indexer.extract.images import extract_image

        return extract_image
    from indexer.extract import office as extract_office

    return {
        "docx": extract_office.extract_docx,
        "pptx": extract_office.extract_pptx,
        "md": extract_office.extract_md,
        "txt": extract_office.extract_txt,
    }[fmt]
