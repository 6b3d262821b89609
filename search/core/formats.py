"""The file types the app reads, by suffix: what a folder or an upload may hold and what a result may open.

Data shared by the indexer (which extractor reads a file, indexer/extract/) and the application
(uploads, serving a result's source), so the application never imports the indexer for it.
"""

from __future__ import annotations

from pathlib import Path

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


def format_of(path: Path | str) -> str | None:
    """Document.format for a path, or None for a file type the indexer does not read."""
    return FORMATS.get(Path(path).suffix.lower())
