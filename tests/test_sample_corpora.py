"""Fast checks of the bundled sample corpus and its labeled query set (sample_corpora/).

The generated PDF/DOCX/PPTX/EPUB/HTML files are read back here with PyMuPDF, python-docx,
python-pptx and lxml directly (not with the project's loaders) and compared with the
plain-text sources they were built from, page by page where the format has pages.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import re
import sys
import unicodedata
import zipfile
from collections import Counter, defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "sample_corpora"
DOCUMENTS = ROOT / "documents"
QUERYSET = ROOT / "queryset"

SUPPORTED = {".pdf", ".docx", ".pptx", ".html", ".htm", ".md", ".txt", ".epub", ".png", ".tiff"}
PAGED = {"pdf", "docx", "pptx", "epub"}
MAX_TOTAL_CHARS = 66_000  # about 22k multilingual-e5-small tokens: indexes in well under a minute on 2 cores
ISO_639_1 = re.compile(r"^[a-z]{2}$")


def _load_build():
    spec = importlib.util.spec_from_file_location("sample_corpora_build", ROOT / "build.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


build = _load_build()
SOURCES = build.load_sources()
BY_PATH = {src.path: src for src in SOURCES}


def _queries() -> list[dict]:
    lines = (QUERYSET / "queries.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def _qrels() -> dict[str, dict[str, int]]:
    with (QUERYSET / "qrels.tsv").open(encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh, delimiter="\t")
        assert next(reader) == ["query-id", "corpus-id", "score"]
        qrels: dict[str, dict[str, int]] = defaultdict(dict)
        for qid, doc, score in reader:
            assert doc not in qrels[qid], f"duplicate judgement {qid} {doc}"
            qrels[qid][doc] = int(score)
    return dict(qrels)


QUERIES = _queries()
QRELS = _qrels()


def _norm(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).replace("\u2022", "")
    return re.sub(r"\s+", "", text)


def _cross_lingual(query: dict) -> bool:
    """No highly relevant (grade 2) document is in the query's language."""
    return all(BY_PATH[doc].language != query["language"] for doc, g in QRELS[query["_id"]].items() if g == 2)


# ----------------------------------------------------------------------------------------------
# Extraction with the format libraries themselves
# ----------------------------------------------------------------------------------------------


def _pdf_pages(path: Path) -> list[str]:
    import pymupdf

    with pymupdf.open(path) as doc:
        return [page.get_text() for page in doc]


def _docx_pages(path: Path) -> list[str]:
    import docx

    pages: list[list[str]] = [[]]
    for paragraph in docx.Document(str(path)).paragraphs:
        if paragraph.paragraph_format.page_break_before and pages[-1]:
            pages.append([])
        pages[-1].append(paragraph.text)
    return ["\n".join(page) for page in pages]


def _pptx_pages(path: Path) -> list[str]:
    from pptx import Presentation

    return [
        "\n".join(shape.text_frame.text for shape in slide.shapes if shape.has_text_frame)
        for slide in Presentation(str(path)).slides
    ]


def _epub_pages(path: Path) -> list[str]:
    from lxml import etree

    with zipfile.ZipFile(path) as zf:
        assert zf.namelist()[0] == "mimetype" and zf.read("mimetype") == b"application/epub+zip"
        names = sorted(n for n in zf.namelist() if re.fullmatch(r"OEBPS/chapter-\d+\.xhtml", n))
        return ["\n".join(etree.fromstring(zf.read(n)).find("{*}body").itertext()) for n in names]


def _html_text(path: Path) -> str:
    from lxml import html

    return "\n".join(html.fromstring(path.read_bytes()).body.itertext())


def _extract(path: Path) -> list[str]:
    fmt = path.suffix.lstrip(".")
    if fmt == "pdf":
        return _pdf_pages(path)
    if fmt == "docx":
        return _docx_pages(path)
    if fmt == "pptx":
        return _pptx_pages(path)
    if fmt == "epub":
        return _epub_pages(path)
    if fmt == "html":
        return [_html_text(path)]
    text = path.read_text(encoding="utf-8")
    if fmt == "md":
        text = re.sub(r"(?m)^(#{1,3} |- )", "", text)
    else:
        text = re.sub(r"(?m)^- ", "", text)
    return [text]


# ----------------------------------------------------------------------------------------------
# Documents
# ----------------------------------------------------------------------------------------------


def test_every_document_has_a_source_and_vice_versa() -> None:
    on_disk = {p.relative_to(DOCUMENTS).as_posix() for p in DOCUMENTS.rglob("*") if p.is_file()}
    assert on_disk == set(BY_PATH)


def test_no_stray_indexable_files_under_sample_corpora() -> None:
    """The indexer is pointed at sample_corpora/: only the documents are picked up, not the sources
    or this folder's README (which names every document and topic; .mlsearchignore leaves it out)."""
    from indexer.extract.loaders import LoaderConfig, discover

    stray = [
        p.relative_to(ROOT).as_posix()
        for p in ROOT.rglob("*")
        if p.is_file() and p.suffix.lower() in SUPPORTED and DOCUMENTS not in p.parents
    ]
    assert stray == ["README.md"]
    found = discover(ROOT, LoaderConfig())
    assert {entry.path for entry in found.files} == {p for p in DOCUMENTS.rglob("*") if p.is_file()}
    assert found.ignored >= 1 and found.skipped == ()


def test_corpus_size_and_variety() -> None:
    assert 36 <= len(SOURCES) <= 52
    languages = Counter(src.language for src in SOURCES)
    assert len(languages) >= 10, languages
    assert {"en", "de", "fr", "es", "zh", "ar", "hi", "ru", "ja"} <= set(languages)
    assert all(ISO_639_1.match(lang) for lang in languages)
    formats = Counter(src.format for src in SOURCES)
    assert len(formats) >= 6 and {"pdf", "docx", "pptx"} <= set(formats), formats
    assert any(len(src.pages) >= 3 for src in SOURCES if src.format == "pdf"), "a multi-page PDF"


def test_file_names_carry_the_language() -> None:
    for src in SOURCES:
        assert Path(src.path).name.startswith(src.language + "-"), src.path


def test_topics_recur_across_languages() -> None:
    by_topic: dict[str, set[str]] = defaultdict(set)
    for src in SOURCES:
        by_topic[src.topic].add(src.language)
    recurring = {topic: langs for topic, langs in by_topic.items() if len(langs) > 1}
    assert len(recurring) >= 10
    assert all(3 <= len(langs) <= 5 for langs in recurring.values()), recurring


def test_total_text_is_within_the_indexing_budget() -> None:
    total = sum(len(src.text) for src in SOURCES)
    assert total <= MAX_TOTAL_CHARS, total


def test_document_lengths_are_reasonable() -> None:
    for src in SOURCES:
        size, unit = build.size_of(src)
        low, high = (250, 900) if unit == "chars" else (140, 450)
        assert low <= size <= high, (src.path, size, unit)


SCANS = sorted(path for path, src in BY_PATH.items() if src.scan)


def test_the_sample_has_scans_in_several_scripts() -> None:
    """Scanned pages the first launch reads by OCR: an image-only PDF, a PNG and a vertical TIFF."""
    assert {BY_PATH[path].format for path in SCANS} >= {"pdf", "png", "tiff"}
    assert {BY_PATH[path].language for path in SCANS} >= {"el", "ar", "ja"}
    assert any(BY_PATH[path].vertical for path in SCANS)
    judged = {doc for qid, docs in QRELS.items() for doc, grade in docs.items() if grade == 2}
    assert set(SCANS) <= judged, "every scan answers a query"


@pytest.mark.parametrize("path", SCANS, ids=lambda p: p)
def test_a_scan_has_no_text_layer_and_reads_back_by_ocr(path: str) -> None:
    src = BY_PATH[path]
    pages, text = build.scan_pages(DOCUMENTS / path)
    assert pages == len(src.pages) and not text.strip()
    from tests.system_packages import ensure_tesseract

    ensure_tesseract()
    from rapidfuzz.distance import Levenshtein

    from indexer.extract.loaders import LoaderConfig, load_document

    doc = load_document(DOCUMENTS / path, DOCUMENTS, LoaderConfig())
    assert doc.language == src.language and all(section.ocr is not None for section in doc.sections)
    assert Levenshtein.distance(_norm(src.text), _norm(doc.text)) / len(_norm(src.text)) < 0.05


@pytest.mark.parametrize("path", sorted(set(BY_PATH) - set(SCANS)), ids=lambda p: p)
def test_generated_file_reads_back_as_its_source_text(path: str) -> None:
    src = BY_PATH[path]
    got = _extract(DOCUMENTS / path)
    want = src.page_texts() if src.format in PAGED else [src.text]
    assert len(got) == len(want), f"{path}: {len(got)} pages/slides, source has {len(want)}"
    for number, (g, w) in enumerate(zip(got, want), 1):
        assert "\ufffd" not in g, f"{path} page {number}: replacement characters"
        assert _norm(g) == _norm(w), f"{path} page {number} differs from its source"


def test_pdf_metadata_and_fonts() -> None:
    import pymupdf

    for src in SOURCES:
        if src.format != "pdf" or src.scan:
            continue
        with pymupdf.open(DOCUMENTS / src.path) as doc:
            assert doc.metadata["title"] == src.title
            assert doc.metadata["creationDate"] == build.PDF_DATE
            for page in doc:
                assert page.get_fonts(), f"{src.path}: page without fonts"


def test_docx_and_pptx_use_real_structure() -> None:
    import docx
    from pptx import Presentation

    for src in SOURCES:
        path = DOCUMENTS / src.path
        if src.format == "docx":
            styles = [p.style.name if p.style else None for p in docx.Document(str(path)).paragraphs]
            assert styles[0] == "Title" and "Heading 1" in styles, src.path
            assert docx.Document(str(path)).core_properties.title == src.title
        elif src.format == "pptx":
            slides = list(Presentation(str(path)).slides)
            assert len(slides) == len(src.pages) >= 4, src.path
            assert all(slide.shapes.title is not None and slide.shapes.title.text for slide in slides)


def test_builds_are_deterministic() -> None:
    for fmt in sorted(build.BINARY_FORMATS):
        src = next(s for s in SOURCES if s.format == fmt)
        first, second = build.render(src), build.render(src)
        assert first == second, f"{src.path}: two builds differ"


def test_queryset_files_are_up_to_date() -> None:
    for name, data in build.queryset_files(SOURCES).items():
        assert (QUERYSET / name).read_bytes() == data, (
            f"queryset/{name} is stale: run python sample_corpora/build.py"
        )


# ----------------------------------------------------------------------------------------------
# Query set
# ----------------------------------------------------------------------------------------------


def test_queries_are_well_formed() -> None:
    ids = [q["_id"] for q in QUERIES]
    assert len(ids) == len(set(ids))
    assert len(QUERIES) >= 72
    for q in QUERIES:
        assert q["text"].strip() and ISO_639_1.match(q["language"]), q
        assert q["metadata"]["type"] in {"keyword", "question", "fact"}
    assert len({q["language"] for q in QUERIES}) >= 8
    assert {"en", "de", "fr", "es", "zh", "ar", "hi", "ru", "ja"} <= {q["language"] for q in QUERIES}
    assert {q["metadata"]["type"] for q in QUERIES} == {"keyword", "question", "fact"}


def test_every_judged_document_exists_and_every_query_has_an_answer() -> None:
    query_ids = {q["_id"] for q in QUERIES}
    assert set(QRELS) == query_ids
    for qid, judgements in QRELS.items():
        assert judgements, qid
        assert set(judgements.values()) <= {1, 2}, qid
        assert 2 in judgements.values(), f"{qid}: no highly relevant document"
        for doc in judgements:
            assert (DOCUMENTS / doc).is_file(), f"{qid}: {doc} does not exist"


def test_topical_queries_judge_every_document_of_their_topic() -> None:
    by_topic: dict[str, set[str]] = defaultdict(set)
    for src in SOURCES:
        by_topic[src.topic].add(src.path)
    for q in QUERIES:
        judged = set(QRELS[q["_id"]])
        if q["metadata"]["type"] != "fact":
            assert by_topic[q["metadata"]["topic"]] <= judged, q["_id"]


def test_most_queries_are_cross_lingual() -> None:
    cross = [q for q in QUERIES if _cross_lingual(q)]
    assert len(cross) >= 0.6 * len(QUERIES), f"{len(cross)} of {len(QUERIES)}"
    fact_cross = [q for q in cross if q["metadata"]["type"] == "fact" and len(QRELS[q["_id"]]) == 1]
    assert len(fact_cross) >= 20, "single-answer fact questions answered in another language"


def test_german_queries_reach_english_chinese_and_arabic_documents() -> None:
    german = [q for q in QUERIES if q["language"] == "de"]
    assert len(german) >= 6
    reached = {BY_PATH[doc].language for q in german for doc, g in QRELS[q["_id"]].items() if g == 2}
    assert {"en", "zh", "ar"} <= reached, reached


def test_queryset_description() -> None:
    info = json.loads((QUERYSET / "queryset.json").read_text(encoding="utf-8"))
    for key in ("name", "description", "languages", "how_it_was_made", "corpus_note", "relevance"):
        assert info[key], key
    assert "--export-corpus" in info["corpus_note"]
    assert sorted(info["languages"]) == sorted({q["language"] for q in QUERIES})
    assert info["counts"]["queries"] == len(QUERIES)
    assert info["counts"]["cross_lingual_queries"] == sum(_cross_lingual(q) for q in QUERIES)
