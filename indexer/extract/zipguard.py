"""Reject zip bombs before a parser inflates them.

DOCX, PPTX and EPUB are zip archives; python-docx and python-pptx read parts
whole into memory, so a 40 KB file that inflates to 4 GB must be stopped by
looking at the central directory, which costs nothing.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from indexer.extract.formats import ExtractionError, LoaderConfig, describe, human_size

_RATIO_FLOOR = 1024 * 1024  # tiny, very repetitive parts (styles, empty slides) compress 100:1 harmlessly


def check_zip(path: Path, fmt: str, config: LoaderConfig) -> None:
    """ExtractionError unless ``path`` is a zip whose declared sizes stay within the limits."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except zipfile.BadZipFile:
        raise ExtractionError(f"corrupt {fmt.upper()}: not a valid zip archive") from None
    except (OSError, ValueError, EOFError) as exc:
        raise ExtractionError(f"corrupt {fmt.upper()}: {describe(exc)}") from None
    if len(members) > config.max_zip_members:
        raise ExtractionError(
            f"zip bomb suspected: {len(members)} archive members (limit {config.max_zip_members})"
        )
    unzipped = sum(m.file_size for m in members)
    packed = sum(m.compress_size for m in members)
    if unzipped > config.max_unzipped_bytes:
        raise ExtractionError(
            f"zip bomb suspected: {human_size(unzipped)} uncompressed (limit {human_size(config.max_unzipped_bytes)})"
        )
    # Whole archive and each member: one inflating member can hide behind large stored images.
    for size, compressed in [(unzipped, packed), *((m.file_size, m.compress_size) for m in members)]:
        ratio = size / max(compressed, 1)
        if ratio > config.max_zip_ratio and size > _RATIO_FLOOR:
            raise ExtractionError(
                f"zip bomb suspected: compression ratio {ratio:.0f}:1 (limit {config.max_zip_ratio:.0f}:1)"
            )
