"""DOCX, PPTX, Markdown and plain text -> sections, through unstructured (offline); HTML is
indexer.extract.htmlstream's.

Element types map to Section kinds. unstructured decides "Title" from markup
(Word heading styles, Markdown #, a slide's title placeholder) or,
for plain text and slide bodies, from English-centric heuristics; the latter
are checked again with :func:`plausible_heading`, otherwise every short
Japanese paragraph would become a heading.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from indexer.extract.decode import decode_text
from indexer.extract.formats import Extracted, ExtractionError, LoaderConfig, describe
from indexer.extract.textnorm import normalize_text, plausible_heading
from indexer.extract.unstructured_offline import partitioner, release_caches
from indexer.extract.zipguard import check_zip
from search.core.types import Section
from search.text.sentences import window_spans

_SKIPPED_CATEGORIES = frozenset({"PageBreak", "Header", "Footer", "Image", "PageNumber"})
_KINDS = {"Title": "title", "ListItem": "list", "Table": "table"}
_MARKUP_TITLE_MAX_CHARS = 300
_NO_LANGUAGE_DETECTION = [""]  # unstructured's per-element langdetect: we detect once, ourselves
LONG_PARAGRAPH_CHARS = 100_000  # longer paragraphs are cut before unstructured sees them (13x its size)
_PARAGRAPH_BREAK = re.compile(r"\n[^\S\n]*\n")


def extract_docx(path: Path, config: LoaderConfig) -> Extracted:
    check_zip(path, "docx", config)
    elements = _partition(
        "DOCX", partitioner("docx"), filename=str(path), strategy="fast", infer_table_structure=True
    )
    return _extracted(sections_from_elements(elements, heuristic_titles=False))


def extract_pptx(path: Path, config: LoaderConfig) -> Extracted:
    check_zip(path, "pptx", config)
    elements = _partition(
        "PPTX",
        partitioner("pptx"),
        filename=str(path),
        strategy="fast",
        include_slide_notes=True,
        infer_table_structure=True,
    )
    return _extracted(sections_from_elements(elements, heuristic_titles=False, slide_titles_only=True))


def extract_md(path: Path, config: LoaderConfig) -> Extracted:
    return _extracted(text_sections(decode_text(path.read_bytes()), "md"))


def extract_txt(path: Path, config: LoaderConfig) -> Extracted:
    return _extracted(text_sections(decode_text(path.read_bytes()), "txt"))


def text_sections(text: str, fmt: str) -> tuple[Section, ...]:
    """Sections of plain text ("txt") or Markdown ("md"): a whole file or one part of a long one."""
    text = cut_long_paragraphs(re.sub(r"\r\n?", "\n", text))
    if fmt == "md":
        return sections_from_elements(
            _partition("Markdown", partitioner("md"), text=text), heuristic_titles=False
        )
    elements = _partition("text", partitioner("text"), text=text)
    return sections_from_elements(elements, heuristic_titles=True)


def cut_long_paragraphs(text: str, limit: int = LONG_PARAGRAPH_CHARS) -> str:
    """Paragraphs longer than ``limit`` characters split into paragraphs of at most that size.

    Nothing that long is a heading or a list item, and unstructured's classification of one
    allocates about 13 times its size (it splits the whole text into words to count them); the
    chunker packs the pieces back together (sections are not chunk boundaries, headings are).
    """
    if len(text) <= limit:
        return text
    pieces: list[str] = []
    start = 0
    for match in [*_PARAGRAPH_BREAK.finditer(text), None]:
        end = match.start() if match else len(text)
        if end - start > limit:
            pieces.extend(text[a:b] for a, b in window_spans(text, start, end, limit))
        else:
            pieces.append(text[start:end])
        start = match.end() if match else end
    return "\n\n".join(pieces)


def _partition(what: str, partition_fn: Any, **kwargs: Any) -> list[Any]:
    """Call an unstructured partitioner; any failure is a reason, not a crash."""
    try:
        return list(partition_fn(languages=_NO_LANGUAGE_DETECTION, **kwargs))
    except ExtractionError:
        raise
    except MemoryError:
        raise ExtractionError(f"{what} parser ran out of memory") from None
    except Exception as exc:  # noqa: BLE001 - a parser bug on one file must not stop the run
        raise ExtractionError(f"{what} parser failed: {describe(exc)}") from None
    finally:
        release_caches()


def sections_from_elements(
    elements: Iterable[Any], heuristic_titles: bool, slide_titles_only: bool = False
) -> tuple[Section, ...]:
    return tuple(_sections(elements, heuristic_titles, slide_titles_only))


def _sections(elements: Iterable[Any], heuristic_titles: bool, slide_titles_only: bool) -> Iterator[Section]:
    for element in elements:
        category = getattr(element, "category", "")
        if category in _SKIPPED_CATEGORIES:
            continue
        metadata = getattr(element, "metadata", None)
        raw = _table_text(metadata) if category == "Table" else None
        text = normalize_text(raw or str(getattr(element, "text", "") or ""))
        if not text:
            continue
        kind = _KINDS.get(category, "text")
        if kind == "title" and not _keep_title(text, metadata, heuristic_titles, slide_titles_only):
            kind = "text"
        page = getattr(metadata, "page_number", None)
        yield Section(text, kind=kind, page=page if isinstance(page, int) else None)


def _keep_title(text: str, metadata: Any, heuristic: bool, slide_titles_only: bool) -> bool:
    if slide_titles_only and (getattr(metadata, "category_depth", 0) or 0) > 0:
        return False  # unstructured's guess on slide body text; the title placeholder has depth 0
    if heuristic or slide_titles_only:
        return plausible_heading(text)
    return "\n" not in text and len(text) <= _MARKUP_TITLE_MAX_CHARS


def _table_text(metadata: Any) -> str | None:
    """Rows on lines and cells separated by " | ": unstructured's Table.text loses the grid."""
    markup = getattr(metadata, "text_as_html", None)
    if not markup:
        return None
    try:
        from lxml import html as lxml_html

        table = lxml_html.fromstring(markup)
    except Exception:  # noqa: BLE001 - fall back to the flat text
        return None
    rows = []
    for row in table.iter("tr"):
        cells = [" ".join(cell.text_content().split()) for cell in row if cell.tag in ("td", "th")]
        if any(cells):
            rows.append(" | ".join(cells))
    return "\n".join(rows) or None


def _extracted(sections: tuple[Section, ...], title: str = "") -> Extracted:
    if not sections:
        raise ExtractionError("no text found")
    if not title:
        title = next((s.text for s in sections if s.kind == "title"), "")
    return Extracted(sections, title)
