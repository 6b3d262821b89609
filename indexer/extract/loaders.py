"""Folder -> Documents: the indexer's entry point for files.

``discover`` lists what to read and what cannot be used; ``load_document``
turns one file into a Document or raises ExtractionError with a one-line
reason. Whatever a parser does with a hostile file ends as that error, so one
bad file never stops a run.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from indexer.extract.formats import Extracted, ExtractionError, LoaderConfig, describe, format_of, human_size
from indexer.extract.textnorm import normalize_text
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
]


class UnreadableFileError(ExtractionError):
    """The file is there but could not be read now (permissions, I/O): what is indexed of it stays."""


def load_document(path: Path, root: Path, config: LoaderConfig, content_hash: str | None = None) -> Document:
    """Extract one file; ``content_hash`` saves a second read when the caller already hashed it."""
    path = Path(path)
    fmt = format_of(path)
    if fmt is None:
        raise ExtractionError(f"unsupported file type {path.suffix or '(no suffix)'}")
    try:
        size = os.stat(path).st_size
        if size > config.size_limit(fmt):
            limit = human_size(config.size_limit(fmt))
            raise ExtractionError(f"too large: {human_size(size)} (limit for {fmt} is {limit})")
        if size == 0:
            raise ExtractionError("empty")
        sections, title = _extract(fmt, path, config)
        digest = content_hash or file_sha256(path)
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
    sections = tuple(s for s in sections if s.text)
    if not sections:
        raise ExtractionError("empty")
    document = Document(
        source=Path(os.path.abspath(path)).as_posix(),
        root=Path(os.path.abspath(root)).as_posix(),
        content_hash=digest,
        format=fmt,
        sections=sections,
        title=normalize_text(title),
    )
    return replace(document, language=detect_language(document.text))


def _extract(fmt: str, path: Path, config: LoaderConfig) -> tuple[tuple[Section, ...], str]:
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
    from indexer.extract import office as extract_office

    return {
        "docx": extract_office.extract_docx,
        "pptx": extract_office.extract_pptx,
        "html": extract_office.extract_html,
        "md": extract_office.extract_md,
        "txt": extract_office.extract_txt,
    }[fmt]
