"""Retrieval through OCR: a query set on a scanned copy of its documents against the text original.

Every document is set on A4 pages at 300 dpi (benchmarks/page_images.py, Debian's Noto fonts), the
pages go through what a scanner does (grey noise, a sheet turned half a degree), and are saved as
one multi-page TIFF per document; the app's own loader reads them back by OCR, choosing the
languages itself (nothing told). The same queries and judgements then run through the app's
evaluation path (SearchApp.evaluate: chunking, the model, the store, ranx) on the OCR text and on
the original text, in one run; nDCG@10 and Recall@10 per document language, and the difference.

Sets: the sample query set (sample_corpora/queryset: 48 documents in 14 languages, 122 queries,
mostly cross-lingual) and, for scripts the sample lacks (Greek, Thai), XQuAD same-language (the
first ``--limit`` paragraphs of each language and their questions).

    python -m benchmarks.ocr_retrieval --cache-dir ~/.cache/multilingual-search
    python -m benchmarks.ocr_retrieval --sets xquad --xquad-langs el,th --limit 40
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from benchmarks.common import REPO, evaldata_dir, format_table
from benchmarks.page_images import SCRIPT_OF, Degradation, degrade, fonts_missing, render_pages
from indexer.service import FolderIndexer
from search.application.evaluating import PipelineSpec
from search.application.search_app import SearchApp
from search.core.settings import Settings
from search.core.types import CorpusDoc, QuerySet
from search.evaluation.querysets import load_queryset
from search.evaluation.xquad import xquad_same_language

SCAN = Degradation(noise=12.0, skew=0.5)


def scan_corpus(queryset: QuerySet, folder: Path) -> tuple[QuerySet, dict[str, Any]]:
    """The query set with every document's text replaced by what OCR reads from its scanned pages."""
    from indexer.extract.loaders import LoaderConfig, load_document
    from indexer.ocr.pages import OcrEvent, PageReader

    events: list[OcrEvent] = []
    config = LoaderConfig(ocr=PageReader(listener=events.append))
    corpus: dict[str, CorpusDoc] = {}
    pages = 0
    started = time.perf_counter()
    for number, (doc_id, doc) in enumerate(sorted(queryset.corpus.items())):
        script = SCRIPT_OF.get(doc.language, "Latin")
        title = doc.title.strip()
        text = doc.text if not title or doc.text.lstrip().startswith(title) else f"{title}\n\n{doc.text}"
        paragraphs = [p for p in text.split("\n\n") if p.strip()]
        images = [degrade(page, SCAN, seed=number) for page in render_pages(paragraphs, script, 300)]
        path = folder / f"doc-{number:04d}.tiff"
        images[0].save(path, save_all=True, append_images=images[1:], dpi=(300, 300), compression="tiff_lzw")
        pages += len(images)
        try:
            text = load_document(path, folder, config).text
        except Exception as exc:  # noqa: BLE001 - a page OCR cannot read is a document with no text: it counts
            print(f"  {doc_id}: {exc}")
            text = ""
        corpus[doc_id] = replace(doc, text=text, title="")
    seconds = time.perf_counter() - started
    wrong = sum(1 for e in events if e.kind != "read")
    facts = {
        "documents": len(corpus),
        "pages": pages,
        "ocr_seconds": round(seconds, 1),
        "pages_not_read": wrong,
    }
    return replace(queryset, name=queryset.name + "-scanned", corpus=corpus), facts


def compare(
    app: SearchApp, queryset: QuerySet, model: str, scratch: Path
) -> tuple[list[list[Any]], dict[str, Any]]:
    scanned, facts = scan_corpus(queryset, scratch)
    spec = [PipelineSpec(model=model)]
    text_report = app.evaluate(queryset, spec)
    ocr_report = app.evaluate(scanned, spec)
    pipeline = text_report.pipelines[0]
    rows = []
    for lang in sorted(text_report.by_doc_language):
        text_scores = text_report.by_doc_language[lang][pipeline]
        ocr_scores = ocr_report.by_doc_language.get(lang, {}).get(pipeline, {})
        row: list[Any] = [lang, SCRIPT_OF.get(lang, "?"), text_report.doc_language_counts.get(lang, 0)]
        for metric in ("ndcg@10", "recall@10"):
            t, o = 100 * text_scores[metric], 100 * ocr_scores.get(metric, 0.0)
            row += [round(t, 2), round(o, 2), round(o - t, 2)]
        rows.append(row)
    text_all, ocr_all = text_report.overall[pipeline], ocr_report.overall[pipeline]
    overall: list[Any] = ["all", "", text_report.queries_evaluated]
    for metric in ("ndcg@10", "recall@10"):
        t, o = 100 * text_all[metric], 100 * ocr_all[metric]
        overall += [round(t, 2), round(o, 2), round(o - t, 2)]
    rows.append(overall)
    return rows, facts


HEADERS = ["doc language", "script", "queries", "nDCG text", "nDCG OCR", "Δ", "R@10 text", "R@10 OCR", "Δ"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sets", default="sample,xquad")
    parser.add_argument("--xquad-langs", default="el,th,ar,hi,ru,zh,de")
    parser.add_argument("--limit", type=int, default=40, help="XQuAD paragraphs per language")
    parser.add_argument("--model", default="multilingual-e5-small")
    parser.add_argument("--cache-dir", type=Path)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    missing = fonts_missing(sorted(set(SCRIPT_OF.values())))
    if missing:
        raise SystemExit(f"fonts missing for {missing}: apt-get install -y fonts-noto-core fonts-noto-cjk")
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="ocr-retrieval-") as scratch:
        settings = Settings(data_dir=Path(scratch) / "data").with_overrides(cache_dir=args.cache_dir)
        app = SearchApp.build(settings, indexer_factory=FolderIndexer)
        try:
            sets: list[tuple[str, QuerySet]] = []
            if "sample" in args.sets:
                sets.append(("sample", load_queryset(REPO / "sample_corpora" / "queryset")))
            if "xquad" in args.sets:
                for lang in args.xquad_langs.split(","):
                    sets.append(
                        (f"xquad-{lang}", xquad_same_language(evaldata_dir(), lang, limit=args.limit))
                    )
            for name, queryset in sets:
                folder = Path(scratch) / name
                folder.mkdir()
                rows, facts = compare(app, queryset, args.model, folder)
                results[name] = {"rows": rows, "facts": facts}
                print(f"\n{name}: {facts}")
                print(format_table(HEADERS, rows))
        finally:
            app.close()
    if args.out:
        args.out.write_text(json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
