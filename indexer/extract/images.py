"""Image files (PNG, JPEG, TIFF, WebP, BMP) -> sections, by OCR: one page per frame.

Memory stays bounded whatever the file claims: the size in the header is checked before any
pixel is decoded (larger than ``OcrOptions.max_source_pixels``: refused, like a decompression
bomb), JPEGs are decoded straight at the reduced size and in grey, and every page is scaled down
to ``max_pixels`` before Tesseract sees it. A file Pillow cannot decode is a skip with a reason.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from indexer.extract.formats import Extracted, ExtractionError, LoaderConfig, describe
from indexer.extract.scans import ScanReport, document_name, ocr_sections
from indexer.ocr.pages import PageText
from search.core.types import Section

OCR_OFF = "image: OCR is off (indexing runs with --no-ocr)"


def extract_image(path: Path, config: LoaderConfig) -> Extracted:
    reader = config.ocr
    if reader is None:
        raise ExtractionError(OCR_OFF)
    from PIL import Image, ImageSequence, UnidentifiedImageError

    options = reader.options
    reading = reader.document(document_name(path))
    report = ScanReport()
    sections: list[Section] = []
    try:
        with warnings.catch_warnings():  # our own pixel limit decides, below
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(path)
        with image:
            width, height = image.size
            if width * height > options.max_source_pixels:
                raise ExtractionError(
                    f"image too large: {width} x {height} pixels "
                    f"(limit {options.max_source_pixels // 1_000_000} megapixels)"
                )
            frames = getattr(image, "n_frames", 1) if image.format == "TIFF" else 1
            if frames > config.max_pdf_pages:
                raise ExtractionError(f"too many pages: {frames} (limit {config.max_pdf_pages})")
            dpi = _dpi(image.info.get("dpi"))
            for number, frame in enumerate(ImageSequence.Iterator(image), start=1):
                if number > frames:
                    break
                if frame.width * frame.height > options.max_source_pixels:
                    raise ExtractionError(f"page {number} too large: {frame.width} x {frame.height} pixels")
                report.pages += 1
                if not reading.possible:  # no engine: reported without decoding a pixel
                    reading.unavailable(number)
                    continue
                if frame.format == "JPEG" or image.format == "JPEG":
                    _draft(frame, options.max_pixels)
                frame.load()
                page: PageText | None = reading.read(
                    frame, number, dpi if frame.size == (width, height) else None
                )
                sections.extend(ocr_sections(page, number))
    except ExtractionError:
        raise
    except Image.DecompressionBombError as exc:
        raise ExtractionError(f"image too large ({describe(exc, 80)})") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ExtractionError(f"corrupt or unreadable image ({describe(exc, 80)})") from None
    if not sections:
        raise ExtractionError(report.no_text_reason("image", reading.problems))
    return Extracted(tuple(sections), "")


def _draft(frame: object, max_pixels: int) -> None:
    """Decode a JPEG at 1/2, 1/4 or 1/8 of its size, in grey: a 100-megapixel photo never exists in full."""
    width, height = frame.size  # type: ignore[attr-defined]
    scale = min(1.0, (max_pixels / max(1, width * height)) ** 0.5)
    frame.draft("L", (max(1, int(width * scale)), max(1, int(height * scale))))  # type: ignore[attr-defined]


def _dpi(value: object) -> int | None:
    """The resolution the file declares, when it is a plausible scan's (72 dpi is a default, not a fact)."""
    try:
        dpi = round(float(value[0]))  # type: ignore[index]
    except (TypeError, ValueError, IndexError):
        return None
    return dpi if 100 <= dpi <= 1200 else None
