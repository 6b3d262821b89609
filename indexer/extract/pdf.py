"""PDF -> sections with PyMuPDF, page by page (never unstructured's hi_res/auto strategies).

Headings are recognised the cheap way: a block set noticeably larger than the
body font, or all bold where the body is not. MuPDF's own error output is
silenced because a half-broken PDF is reported once, as a reason, not as
hundreds of repair warnings on stderr.

A page whose text layer holds (almost) no letters but which places an image is a
scan: it is rendered and read by OCR (``LoaderConfig.ocr``), inside an otherwise
digital PDF too. Pages with a text layer are never OCR'd.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from indexer.extract.formats import Extracted, ExtractionError, LoaderConfig, describe
from indexer.extract.scans import ScanReport, document_name, ocr_sections
from indexer.extract.textnorm import join_lines, normalize_text
from search.core.types import UNDETERMINED, Section
from search.text.language import detect_language

_HEADING_SCALE = 1.15  # a font this much larger than the body font marks a heading
_HEADING_MAX_CHARS = 200
_HEADING_MAX_LINES = 3
_BOLD = 16  # span flag bit (TEXT_FONT_BOLD)
_PAGE_NUMBER = re.compile(r"^\W*(page\s*)?\d{1,4}(\s*(/|of)\s*\d{1,4})?\W*$", re.IGNORECASE)
NO_TEXT = "no extractable text (scanned PDF? OCR is off)"
SCAN_LETTERS = 16  # a page with fewer letters in its text layer, and an image, is read by OCR
# MuPDF rebuilt a damaged file (a cut download, an interrupted copy) and found neither text nor images
# in what was left: a broken file, not a scan.
REPAIRED_NO_TEXT = "corrupt or truncated PDF (MuPDF repaired it but no text was left)"


@dataclass(frozen=True)
class _Block:
    text: str
    page: int
    size: float  # font size carrying most characters
    bold: bool  # (almost) all characters bold
    lines: int
    ocr: float | None = None  # read by OCR (the page's mean confidence): no font facts


_PYMUPDF_ADD_ONS = ("pymupdf.layout", "pymupdf4llm")


@cache
def _pymupdf() -> Any:
    """Import once, without its optional layout and markdown add-ons, and switch MuPDF's stderr
    chatter off for the process.

    Why without: PyMuPDF 2.0 imports ``pymupdf.layout`` and ``pymupdf4llm`` whenever they are
    installed (both are its dependencies), and they load ONNX Runtime and an ONNX layout model at
    import: +140-210 MB of RSS (indexing the Debian manual peaked at 2,050 MB with them) for
    ``Page.get_layout`` and ``to_markdown``, which the app never calls. A ``None`` entry in
    ``sys.modules`` makes those optional imports fail, which PyMuPDF catches.
    """
    if "pymupdf" not in sys.modules:
        for optional in _PYMUPDF_ADD_ONS:
            sys.modules.setdefault(optional, None)  # type: ignore[arg-type]
    import pymupdf

    pymupdf.TOOLS.mupdf_display_errors(False)
    pymupdf.TOOLS.mupdf_display_warnings(False)
    return pymupdf


def extract_pdf(path: Path, config: LoaderConfig) -> Extracted:
    pymupdf = _pymupdf()
    try:
        doc = pymupdf.open(path, filetype="pdf")
    except pymupdf.EmptyFileError:
        raise ExtractionError("empty") from None
    except pymupdf.FileDataError:
        raise ExtractionError("corrupt or truncated PDF (MuPDF cannot open it)") from None
    except (RuntimeError, ValueError) as exc:
        raise ExtractionError(f"corrupt or truncated PDF ({describe(exc, 80)})") from None
    try:
        if doc.needs_pass:
            raise ExtractionError("encrypted PDF (password required)")
        if doc.page_count == 0:
            raise ExtractionError("corrupt or truncated PDF (no pages could be read)")
        if doc.page_count > config.max_pdf_pages:
            raise ExtractionError(f"too many pages: {doc.page_count} (limit {config.max_pdf_pages})")
        blocks, failed_pages, scans = _read_blocks(doc)
        title = normalize_text(str((doc.metadata or {}).get("title") or ""))
        broken = bool(doc.is_repaired) and not blocks and not _has_images(doc)
        scan_report = ScanReport()
        problems: list[Any] = []
        if scans and config.ocr is not None and not broken:
            blocks, problems = _read_scans(doc, path, blocks, scans, config, scan_report)
    except RuntimeError as exc:  # MuPDF gives up on the page tree of a cut file ("Invalid number of pages")
        raise ExtractionError(f"corrupt or truncated PDF ({describe(exc, 80)})") from None
    finally:
        doc.close()
        pymupdf.TOOLS.reset_mupdf_warnings()
    if not blocks:
        if failed_pages:
            raise ExtractionError(f"corrupt or truncated PDF ({failed_pages} pages could not be read)")
        if scan_report.pages:
            raise ExtractionError(scan_report.no_text_reason("scanned PDF", problems))
        raise ExtractionError(REPAIRED_NO_TEXT if broken else NO_TEXT)
    sections = tuple(_sections(blocks))
    if not any(_has_letters(s.text) for s in sections):
        raise ExtractionError(NO_TEXT)
    if not title:
        title = next((s.text for s in sections if s.kind == "title"), "")
    return Extracted(sections, title)


def _read_blocks(doc: Any) -> tuple[list[_Block], int, list[int]]:
    """Text blocks of every page, and the pages that are scans; a page MuPDF cannot parse is skipped."""
    pymupdf = _pymupdf()
    flags = pymupdf.TEXT_PRESERVE_WHITESPACE | pymupdf.TEXT_MEDIABOX_CLIP  # no images: they are not text
    blocks: list[_Block] = []
    failed = 0
    scans: list[int] = []
    for number in range(doc.page_count):
        try:
            page = doc.load_page(number)
            page_blocks = list(_page_blocks(page.get_text("dict", flags=flags), number + 1))
            if sum(_letters(b.text) for b in page_blocks) < SCAN_LETTERS and page.get_images():
                scans.append(number + 1)
        except Exception:  # noqa: BLE001 - one damaged page must not lose the rest
            failed += 1
            continue
        blocks.extend(page_blocks)
    return blocks, failed, scans


def _read_scans(
    doc: Any, path: Path, blocks: list[_Block], scans: list[int], config: LoaderConfig, report: ScanReport
) -> tuple[list[_Block], list[Any]]:
    """OCR the scanned pages (rendered at the OCR resolution, never above its pixel cap) into blocks
    placed among the text pages' blocks in page order."""
    from PIL import Image

    reader = config.ocr
    assert reader is not None
    options = reader.options
    reading = reader.document(document_name(path), _language_hints(doc, blocks))
    read: dict[int, list[_Block]] = {}
    for number in scans:
        report.pages += 1
        if not reading.possible:  # no engine: reported without rendering the page
            reading.unavailable(number)
            continue
        page = doc.load_page(number - 1)
        rect = page.rect
        inches = max(1e-3, rect.width / 72) * max(1e-3, rect.height / 72)
        dpi = max(24, min(options.dpi, int((options.max_pixels / inches) ** 0.5)))
        pixmap = page.get_pixmap(dpi=dpi, colorspace=_pymupdf().csGRAY, alpha=False)
        image = Image.frombytes("L", (pixmap.width, pixmap.height), pixmap.samples)
        del pixmap
        text = reading.read(image, number, dpi)
        sections = list(ocr_sections(text, number))
        if sections:
            read[number] = [
                _Block(s.text, number, 0.0, False, s.text.count("\n") + 1, s.ocr) for s in sections
            ]
    merged = [b for b in blocks if b.page not in read]
    for page_blocks in read.values():
        merged.extend(page_blocks)
    merged.sort(key=lambda b: b.page)  # stable: each page's blocks keep their order
    return merged, list(reading.problems)


def _language_hints(doc: Any, blocks: list[_Block]) -> tuple[str, ...]:
    """Languages the document says it holds (its /Lang) or its text pages are in: what to install, if need be."""
    hints: list[str] = []
    try:
        declared = str(doc.language or "").split("-")[0].lower()
    except Exception:  # noqa: BLE001 - an odd catalog is no reason to fail
        declared = ""
    if len(declared) == 2:
        hints.append(declared)
    if blocks:
        found = detect_language(" ".join(b.text for b in blocks[:200]))
        if found != UNDETERMINED:
            hints.append(found)
    return tuple(dict.fromkeys(hints))


def _has_images(doc: Any, pages: int = 20) -> bool:
    """Whether the first pages place any image: a scan, rather than pages that lost their content."""
    for number in range(min(doc.page_count, pages)):
        try:
            if doc.load_page(number).get_images():
                return True
        except Exception:  # noqa: BLE001 - a damaged page has no usable image either
            continue
    return False


def _page_blocks(page_dict: dict[str, Any], page: int) -> Iterator[_Block]:
    for block in page_dict.get("blocks", ()):
        if block.get("type") != 0:
            continue
        lines: list[str] = []
        sizes: Counter[float] = Counter()
        bold_chars = 0
        chars = 0
        for line in block.get("lines", ()):
            parts = []
            for span in line.get("spans", ()):
                text = span.get("text", "")
                parts.append(text)
                n = len(text.strip())
                chars += n
                sizes[round(float(span.get("size", 0.0)) * 2) / 2] += n
                if int(span.get("flags", 0)) & _BOLD:
                    bold_chars += n
            lines.append("".join(parts))
        text = normalize_text(join_lines(lines))  # join first: soft hyphens and '-' at line ends matter
        if not text or _PAGE_NUMBER.match(text):
            continue
        size = sizes.most_common(1)[0][0] if sizes else 0.0
        yield _Block(text, page, size, chars > 0 and bold_chars >= 0.9 * chars, len(lines))


def _sections(blocks: list[_Block]) -> Iterator[Section]:
    by_size: Counter[float] = Counter()
    bold = 0
    for b in blocks:
        if b.ocr is None:
            by_size[b.size] += len(b.text)
            bold += len(b.text) if b.bold else 0
    body_size = by_size.most_common(1)[0][0] if by_size else 0.0
    body_is_bold = bold > 0.5 * sum(by_size.values())
    for b in blocks:
        if b.ocr is not None:
            yield Section(b.text, kind="text", page=b.page, ocr=b.ocr)
            continue
        short = len(b.text) <= _HEADING_MAX_CHARS and b.lines <= _HEADING_MAX_LINES
        larger = b.size >= body_size * _HEADING_SCALE
        emphasised = b.bold and not body_is_bold
        kind = "title" if short and _has_letters(b.text) and (larger or emphasised) else "text"
        yield Section(b.text, kind=kind, page=b.page)


def _has_letters(text: str) -> bool:
    return any(ch.isalpha() for ch in text)


def _letters(text: str) -> int:
    return sum(ch.isalpha() for ch in text)
