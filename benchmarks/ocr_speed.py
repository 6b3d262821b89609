"""OCR speed: pages per second by page type, the share of pages OCR'd in a mixed folder, and the
indexing throughput of a folder without scans before and after (OCR must cost it nothing).

1. Page types, read by the app's loader (OCR cache off, languages chosen per page): text pages of
   digital PDFs, scanned PDF pages (Latin and Chinese), PNG images, a mixed PDF; scanned pages
   with Tesseract on one thread (the app's setting: it runs beside the model) and on two; and the
   same scans again from the OCR cache.
2. A mixed folder (generated documents plus scanned copies of some): how many of its pages OCR read.
3. A folder with no scans (benchmarks.gen_corpus), indexed with the hashing fake embedder (so the
   model does not drown the pipeline's own cost): this checkout with OCR on, with OCR off, and
   ``--baseline`` (another checkout, e.g. main before OCR) in the same run, rounds alternating.
4. ``beside`` (with ``--cache-dir``, the real default model, no embedding cache): the same text folder
   indexed alone and with scanned pages added, rounds alternating: the model's embedding seconds
   for the same chunks show whether OCR, running beside it, slows it down.

Timings need an idle machine; the load average is printed with them.

    python -m benchmarks.ocr_speed --baseline ../main --files 150 --rounds 3
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import tempfile
import textwrap
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks.common import REPO, format_table, run_json_child
from benchmarks.gen_corpus import generate
from benchmarks.page_images import SCRIPT_OF, Degradation, degrade, render_pages

if TYPE_CHECKING:
    from indexer.service import FolderIndexer
    from search.core.settings import Settings

SCAN = Degradation(noise=12.0, skew=0.5)


def sample_paragraphs(language: str) -> list[str]:
    """The sample corpus's own text in one language (queryset/corpus.jsonl, as the loaders read it)."""
    lines = (REPO / "sample_corpora" / "queryset" / "corpus.jsonl").read_text(encoding="utf-8").splitlines()
    docs = [json.loads(line) for line in lines]
    return [p for d in docs if d["language"] == language for p in d["text"].split("\n\n") if p.strip()]


def scanned_pages(language: str, pages: int) -> list[Any]:
    paragraphs = sample_paragraphs(language)
    images = render_pages(paragraphs * 3, SCRIPT_OF[language], 300)[:pages]
    return [degrade(image, SCAN, seed=i) for i, image in enumerate(images)]


def write_scanned_pdf(path: Path, images: Sequence[Any], text_pages: Sequence[str] = ()) -> None:
    """A PDF of page images (a scan); ``text_pages`` adds digital pages first (a mixed PDF)."""
    import io

    import pymupdf

    doc = pymupdf.open()
    for text in text_pages:
        doc.new_page().insert_textbox(pymupdf.Rect(56, 56, 540, 780), text, fontsize=11)
    for image in images:
        buffer = io.BytesIO()
        image.save(buffer, "PNG")
        page = doc.new_page()
        page.insert_image(page.rect, stream=buffer.getvalue())
    doc.save(str(path))


def time_loading(paths: Sequence[Path], reader: Any) -> tuple[float, int, int]:
    """Seconds to load the files, pages seen, pages OCR'd."""
    from indexer.extract.loaders import LoaderConfig, load_document

    events: list[Any] = []
    config = LoaderConfig(ocr=reader.with_listener(events.append) if reader is not None else None)
    started = time.perf_counter()
    pages = 0
    for path in paths:
        doc = load_document(path, path.parent, config)
        pages += max((s.page or 1) for s in doc.sections)
    return time.perf_counter() - started, pages, sum(e.kind in ("read", "cached") for e in events)


def page_types(scratch: Path) -> list[list[Any]]:
    from indexer.ocr.cache import OcrCache
    from indexer.ocr.pages import OcrOptions, PageReader

    folder = scratch / "types"
    folder.mkdir()
    generate(folder / "digital", 40, seed=1, formats={"pdf": 1.0})
    digital = sorted((folder / "digital").rglob("*.pdf"))
    latin, han = scanned_pages("de", 4), scanned_pages("zh", 4)
    write_scanned_pdf(folder / "scan-de.pdf", latin)
    write_scanned_pdf(folder / "scan-zh.pdf", han)
    for i, image in enumerate(scanned_pages("ru", 4)):
        image.save(folder / f"image-ru-{i}.png", dpi=(300, 300))
    write_scanned_pdf(folder / "mixed.pdf", latin[:1], text_pages=sample_paragraphs("en")[:2])
    cases: list[tuple[str, list[Path], Callable[[], Any]]] = [
        ("digital PDF pages (text layer)", digital, PageReader),
        ("scanned PDF pages, German (Latin)", [folder / "scan-de.pdf"], PageReader),
        (
            "scanned PDF pages, German, Tesseract on 2 threads",
            [folder / "scan-de.pdf"],
            lambda: PageReader(OcrOptions(threads=2)),
        ),
        ("scanned PDF pages, Chinese (Han)", [folder / "scan-zh.pdf"], PageReader),
        ("PNG images, Russian (Cyrillic)", sorted(folder.glob("image-ru-*.png")), PageReader),
        ("mixed PDF (2 text pages, 1 scanned)", [folder / "mixed.pdf"], PageReader),
    ]
    rows = []
    for label, paths, make in cases:
        seconds, pages, ocr = time_loading(paths, make())
        rows.append([label, pages, ocr, round(seconds, 2), round(pages / seconds, 2)])
    cache = OcrCache(scratch / "ocr.sqlite3")
    warm = PageReader(OcrOptions(), cache)
    time_loading([folder / "scan-de.pdf"], warm)
    seconds, pages, ocr = time_loading([folder / "scan-de.pdf"], warm)
    rows.append(
        [
            "scanned PDF pages, German, from the OCR cache",
            pages,
            ocr,
            round(seconds, 2),
            round(pages / seconds, 2),
        ]
    )
    return rows


def mixed_folder_share(scratch: Path) -> dict[str, Any]:
    from indexer.extract.loaders import LoaderConfig
    from indexer.ocr.pages import PageReader
    from indexer.pipeline import IndexConfig, index_folder
    from search.space.vector_space import VectorSpace
    from search.stores.client import ClientStore
    from tests.fakes import FakeEmbedder

    folder = scratch / "mixed"
    generate(folder, 60, seed=2)
    (folder / "scans").mkdir()
    write_scanned_pdf(folder / "scans" / "letter-de.pdf", scanned_pages("de", 2))
    write_scanned_pdf(
        folder / "scans" / "report-mixed.pdf", scanned_pages("fr", 1), sample_paragraphs("fr")[:3]
    )
    for i, image in enumerate(scanned_pages("ja", 2)):
        image.save(folder / "scans" / f"photo-ja-{i}.jpg", quality=80, dpi=(300, 300))
    import pymupdf

    from indexer.extract.loaders import discover, load_document

    pages = 0
    config = LoaderConfig(ocr=None)
    for entry in discover(folder, config).files:
        if entry.format in ("pdf", "image"):
            with pymupdf.open(entry.path) as doc:
                pages += doc.page_count
        else:
            try:
                doc_ = load_document(entry.path, folder, config)
                pages += max(1, max((s.page or 1) for s in doc_.sections))
            except Exception:  # noqa: BLE001 - counted as one page
                pages += 1
    started = time.perf_counter()
    report = index_folder(
        folder,
        VectorSpace(FakeEmbedder()),
        ClientStore(":memory:"),
        "mixed",
        config=IndexConfig(loader=LoaderConfig(ocr=PageReader())),
    )
    seconds = time.perf_counter() - started
    return {
        "files": report.files_seen,
        "pages": pages,
        "pages_ocr": report.ocr.pages_read,
        "share_ocr": round(report.ocr.pages_read / pages, 3),
        "seconds": round(seconds, 1),
        "ocr_seconds": report.ocr.seconds,
    }


THROUGHPUT = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    from indexer.extract.loaders import LoaderConfig
    from indexer.pipeline import IndexConfig, index_folder
    from search.stores.client import ClientStore
    from tests.fakes import FakeEmbedder
    folder, ocr = Path(sys.argv[1]), sys.argv[2] == "on"
    config = IndexConfig() if ocr else IndexConfig(loader=LoaderConfig(ocr=None))
    started = time.perf_counter()
    cpu = time.process_time()
    try:  # this checkout: the indexer writes in a VectorSpace; a baseline before it took the model
        from search.space.vector_space import VectorSpace
        model = VectorSpace(FakeEmbedder())
    except ImportError:
        model = FakeEmbedder()
    report = index_folder(folder, model, ClientStore(":memory:"), "t", config=config)
    print(json.dumps({"seconds": time.perf_counter() - started, "cpu": time.process_time() - cpu,
                      "chunks": report.chunks_written, "extract": report.timings.get("extract", 0.0)}))
    """
)


def throughput(folder: Path, setups: Sequence[tuple[str, Path, str]], rounds: int) -> list[list[Any]]:
    results: dict[str, list[dict[str, float]]] = {label: [] for label, _, _ in setups}
    for _ in range(rounds):
        for label, repo, ocr in setups:
            script = (
                THROUGHPUT
                if ocr != "baseline"
                else THROUGHPUT.replace(
                    "config = IndexConfig() if ocr else IndexConfig(loader=LoaderConfig(ocr=None))",
                    "config = IndexConfig()",
                )
            )
            results[label].append(run_json_child(script, [str(folder), ocr], repo, label))
    base = statistics.median(r["chunks"] / r["seconds"] for r in results[setups[0][0]])
    rows = []
    for label, _, _ in setups:
        runs = results[label]
        rate = statistics.median(r["chunks"] / r["seconds"] for r in runs)
        rows.append(
            [
                label,
                int(runs[0]["chunks"]),
                round(rate, 1),
                round(statistics.median(r["extract"] for r in runs), 2),
                round(statistics.median(r["cpu"] for r in runs), 2),
                round(rate / base, 3),
            ]
        )
    return rows


def _same(indexer: FolderIndexer, settings: Settings) -> FolderIndexer:
    return indexer


def beside(scratch: Path, cache_dir: Path, files: int, scans: int, rounds: int) -> list[list[Any]]:
    from indexer.service import FolderIndexer
    from search.application.search_app import SearchApp
    from search.core.settings import Settings

    text_folder = scratch / "beside-text"
    generate(text_folder, files, seed=3)
    mixed_folder = scratch / "beside-mixed"
    generate(mixed_folder, files, seed=3)
    (mixed_folder / "scans").mkdir()
    write_scanned_pdf(mixed_folder / "scans" / "scan-de.pdf", scanned_pages("de", scans))
    rows: dict[str, list[dict[str, float]]] = {"text only": [], f"text + {scans} scanned pages": []}
    for round_ in range(rounds):
        for label, folder in (("text only", text_folder), (f"text + {scans} scanned pages", mixed_folder)):
            settings = Settings(data_dir=scratch / f"beside-data-{round_}-{len(rows[label])}-{label[:4]}")
            settings = settings.with_overrides(cache_dir=cache_dir, embedding_cache=False, ocr=True)
            indexer = FolderIndexer(settings)
            app = SearchApp.build(settings, indexer_factory=functools.partial(_same, indexer))
            try:
                reader = indexer.page_reader()
                if reader is not None and reader.cache is not None:
                    reader.cache.clear()  # the scans are read afresh every round
                report = app.index_folder(folder)
            finally:
                app.close()
            rows[label].append(
                {
                    "embed": report.timings.get("embed", 0.0),
                    "total": report.timings.get("total", 0.0),
                    "chunks": report.chunks_written,
                    "ocr": report.ocr.pages_read,
                }
            )
    base = statistics.median(r["embed"] for r in rows["text only"])
    out = []
    for label, runs in rows.items():
        embed = statistics.median(r["embed"] for r in runs)
        out.append(
            [
                label,
                int(runs[0]["chunks"]),
                int(runs[0]["ocr"]),
                round(embed, 2),
                round(statistics.median(r["total"] for r in runs), 2),
                round(embed / base, 3),
            ]
        )
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--baseline", type=Path, help="another checkout (before OCR) to compare throughput with"
    )
    parser.add_argument("--files", type=int, default=150, help="files in the folder without scans")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--parts", default="types,mixed,throughput,beside")
    parser.add_argument(
        "--cache-dir", type=Path, help="model cache for the 'beside' part (the real default model)"
    )
    parser.add_argument("--scans", type=int, default=8, help="scanned pages added in the 'beside' part")
    args = parser.parse_args(argv)
    print(f"load average at start: {os.getloadavg()}")
    with tempfile.TemporaryDirectory(prefix="ocr-speed-") as scratch_name:
        scratch = Path(scratch_name)
        if "types" in args.parts:
            rows = page_types(scratch)
            print("\nPages per second by page type (the app's loader, OCR cache off unless said)")
            print(format_table(["page type", "pages", "OCR'd", "seconds", "pages/s"], rows))
        if "mixed" in args.parts:
            print("\nA mixed folder (60 generated documents + scanned letters, a mixed report, photos)")
            print(mixed_folder_share(scratch))
        if "throughput" in args.parts:
            folder = scratch / "no-scans"
            print("\n" + generate(folder, args.files, seed=0).summary())
            setups: list[tuple[str, Path, str]] = []
            if args.baseline:
                setups.append(("baseline checkout", args.baseline.resolve(), "baseline"))
            setups += [("this checkout, OCR on", REPO, "on"), ("this checkout, OCR off", REPO, "off")]
            rows = throughput(folder, setups, args.rounds)
            print(
                f"\nIndexing a folder without scans (fake embedder), median of {args.rounds} alternating rounds"
            )
            print(format_table(["setup", "chunks", "chunks/s", "extract s", "CPU s", "vs first"], rows))
        if "beside" in args.parts and args.cache_dir:
            rows = beside(scratch, args.cache_dir, 40, args.scans, args.rounds)
            print(
                f"\nOCR beside the model (default model, no embedding cache), median of {args.rounds} rounds"
            )
            print(
                format_table(
                    ["folder", "chunks", "pages OCR'd", "embed s", "total s", "embed vs text only"], rows
                )
            )
    print(f"\nload average at end: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
