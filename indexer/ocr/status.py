"""What ``app.py doctor`` says about OCR: the engine, its version, the packs installed, what is missing."""

from __future__ import annotations

from indexer.ocr.languages import PACKS, SCRIPT_PACKS, install_command
from indexer.ocr.pages import PageReader
from search.core.reports import OcrEngineReport


def ocr_report(reader: PageReader | None) -> OcrEngineReport:
    if reader is None:
        return OcrEngineReport(enabled=False)
    engine = reader.engine
    if engine is None:
        return OcrEngineReport(enabled=True, install=install_command(()))
    script_files = {name for name, _ in SCRIPT_PACKS.values()}
    scripts = sorted(
        {PACKS[code].script for code in engine.packs if code in PACKS} | (engine.packs & script_files)
    )
    return OcrEngineReport(
        enabled=True,
        engine=engine.label,
        binary=engine.binary,
        tessdata=engine.tessdata,
        packs=tuple(sorted(engine.packs)),
        scripts=tuple(scripts),
        languages=reader.options.languages,
        script_detection="osd" in engine.packs,
        cache=str(reader.cache.path) if reader.cache is not None else "",
        cached_pages=reader.cache.count() if reader.cache is not None else 0,
    )
