"""Long text, Markdown and HTML files read and indexed part by part (issue 16, item 2).

The reading: parts join back to the whole text in any encoding, end at paragraph
breaks, and give the sections a whole-file parse gives. The indexing: a file that
arrives in parts is one file to the engine (reported once, complete only when its
last part is written, unchanged on the next run, resumed after a stop mid-file,
and removed cleanly when a later part fails). PART_CHARS is lowered so the files
here stay small.
"""

from __future__ import annotations

import codecs
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from indexer.extract import loaders, office
from indexer.extract.decode import decode_text
from indexer.extract.formats import ExtractionError, LoaderConfig
from indexer.extract.htmlstream import LONG_TEXT_CHARS, html_sections
from indexer.extract.textstream import open_text, text_parts
from indexer.pipeline import IndexConfig, index_folder
from search.core.reports import IndexProgress
from search.core.types import Document
from search.space.vector_space import VectorSpace
from search.stores.client import ClientStore
from tests.fakes import FakeEmbedder

pytestmark = pytest.mark.usefixtures("no_network")

PART = 4096
CONFIG = IndexConfig(chunk_tokens=64, overlap_tokens=8, batch_size=4, sort_batches=2)


@pytest.fixture
def small_parts(monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(loaders, "PART_CHARS", PART)
    return PART


def paragraphs(n: int, stem: str = "bees") -> str:
    return "\n\n".join(
        f"Paragraph {i} about {stem}. The {stem} of hive {i} carry pollen home in spring. "
        f"Keepers count the {stem} of hive {i} twice a year."
        for i in range(n)
    )


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "cp1252"])
def test_parts_join_back_to_the_whole_text(tmp_path: Path, encoding: str) -> None:
    text = paragraphs(400).replace("Keepers", "Imkerinnen zählen") + "\r\nlast line\r\n"
    path = tmp_path / "long.txt"
    path.write_bytes(text.encode(encoding))
    parts = list(text_parts(path, open_text(path), 5000))
    assert len(parts) > 5
    assert "".join(parts) == decode_text(path.read_bytes()).replace("\r\n", "\n")
    assert all(part.endswith("\n\n") for part in parts[:-1])  # cut at paragraph breaks
    assert all(len(part) <= 5000 for part in parts)


def test_a_line_ending_split_between_two_reads_is_one_line_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from indexer.extract import textstream

    monkeypatch.setattr(textstream, "READ_BYTES", 7)
    path = tmp_path / "crlf.txt"
    path.write_bytes(b"abcdef\r\nghijkl\r\nmnop\rqr\x00s")
    assert "".join(text_parts(path, open_text(path), 1000)) == "abcdef\nghijkl\nmnop\nqrs"


def test_a_line_without_breaks_is_cut_between_words_or_characters(tmp_path: Path) -> None:
    words, letters = tmp_path / "words.txt", tmp_path / "letters.txt"
    words.write_text("honey " * 5000, encoding="utf-8")
    letters.write_text("स्ते" * 5000, encoding="utf-8")
    for path in (words, letters):
        parts = list(text_parts(path, open_text(path), 3000))
        assert "".join(parts) == path.read_text(encoding="utf-8") and len(parts) > 5
    for part in text_parts(letters, open_text(letters), 3000):
        assert part[0] not in "\u094d\u0947"  # never between a consonant and its virama or vowel sign


@pytest.mark.parametrize("fmt", ["txt", "md"])
def test_long_text_files_arrive_in_parts_with_the_sections_of_a_whole_parse(
    tmp_path: Path, small_parts: int, fmt: str
) -> None:
    heading = "# Bees\n\n" if fmt == "md" else "Bees\n\n"
    path = tmp_path / f"long.{fmt}"
    path.write_text(heading + paragraphs(200), encoding="utf-8")
    parts = list(loaders.load_parts(path, tmp_path, LoaderConfig()))
    assert len(parts) > 5
    assert {(p.language, p.title, p.content_hash, p.format) for p in parts} == {
        ("en", "Bees", parts[0].content_hash, fmt)
    }
    whole = office.text_sections(path.read_text(encoding="utf-8"), fmt)
    assert [s.text for p in parts for s in p.sections] == [s.text for s in whole]
    assert loaders.load_document(path, tmp_path, LoaderConfig()).sections == whole


def test_long_html_arrives_in_parts_with_the_sections_of_the_whole_page(
    tmp_path: Path, small_parts: int
) -> None:
    body = "".join(
        f"<h2>Chapter {i}</h2><p>The bees of hive {i} fly &amp; dance.\nThey   make honey.</p>"
        f"<ul><li>one {i}</li><li>two</li></ul><script>var x = {i};</script>"
        + ("<table><tr><th>a</th><th>b</th></tr><tr><td>1</td><td>2</td></tr></table>" if i % 7 == 0 else "")
        for i in range(300)
    )
    markup = (
        f"<html><head><title>Big &amp; page</title><style>p {{}}</style></head><body>{body}</body></html>"
    )
    path = tmp_path / "long.html"
    path.write_text(markup, encoding="utf-8")
    parts = list(loaders.load_parts(path, tmp_path, LoaderConfig()))
    assert len(parts) > 2 and parts[0].title == "Big & page"
    assert [s for p in parts for s in p.sections] == list(html_sections(markup))


def test_one_giant_html_element_is_cut_into_sections(tmp_path: Path, small_parts: int) -> None:
    path = tmp_path / "giant.html"
    path.write_text("<html><body><p>" + "honey bees " * 50_000 + "</p></body></html>", encoding="utf-8")
    parts = list(loaders.load_parts(path, tmp_path, LoaderConfig()))
    sections = [s for p in parts for s in p.sections]
    assert len(parts) > 3 and max(len(s.text) for s in sections) <= LONG_TEXT_CHARS
    assert " ".join(s.text for s in sections).split() == ("honey bees " * 50_000).split()


def test_a_binary_file_named_txt_is_refused_before_any_part(tmp_path: Path, small_parts: int) -> None:
    path = tmp_path / "noise.txt"
    path.write_bytes(codecs.BOM_UTF16_LE + bytes(range(256)) * 200)
    with pytest.raises(ExtractionError, match="binary"):
        list(loaders.load_parts(path, tmp_path, LoaderConfig()))


# ---- the engine ------------------------------------------------------------------------------------


def folder_with_a_long_file(tmp_path: Path) -> Path:
    root = tmp_path / "docs"
    root.mkdir()
    (root / "long.txt").write_text(paragraphs(150), encoding="utf-8")
    (root / "short.txt").write_text("Honeybees in winter. Wildflowers in spring.", encoding="utf-8")
    return root


def snapshot(store: ClientStore, name: str = "docs") -> dict[str, tuple[str, int, int]]:
    return {
        pid: (str(p["source"]).rsplit("/", 1)[-1], int(p["position"]), int(p["n_chunks"]))
        for pid, p in store.iter_payloads(name, ("source", "position", "n_chunks"))
    }


def test_a_file_in_parts_is_one_file_complete_once_its_last_part_is_in(
    tmp_path: Path, small_parts: int
) -> None:
    root = folder_with_a_long_file(tmp_path)
    store = ClientStore(":memory:")
    report = index_folder(root, VectorSpace(FakeEmbedder()), store, "docs", config=CONFIG)
    assert sorted(report.indexed) == ["long.txt", "short.txt"] and not report.skipped
    points = snapshot(store)
    long_chunks = sorted((pos, n) for name, pos, n in points.values() if name == "long.txt")
    total = len(long_chunks)
    assert [pos for pos, _ in long_chunks] == list(range(total))  # one numbering across the parts
    assert max(n for _, n in long_chunks) == total  # the last part records the file's total
    assert any(n == 0 for _, n in long_chunks)  # earlier parts could not know it
    again = index_folder(root, VectorSpace(FakeEmbedder()), store, "docs", config=CONFIG)
    assert again.unchanged == 2 and again.chunks_written == 0


def test_a_run_stopped_inside_a_file_in_parts_is_finished_by_the_next(
    tmp_path: Path, small_parts: int
) -> None:
    root = folder_with_a_long_file(tmp_path)
    clean = ClientStore(":memory:")
    index_folder(root, VectorSpace(FakeEmbedder()), clean, "docs", config=CONFIG)
    store = ClientStore(":memory:")
    cancel = threading.Event()

    def progress(event: IndexProgress) -> None:
        if event.chunks_written >= 12:
            cancel.set()

    stopped = index_folder(
        root, VectorSpace(FakeEmbedder()), store, "docs", config=CONFIG, progress=progress, cancel=cancel
    )
    assert stopped.cancelled and "long.txt" not in stopped.indexed
    assert 0 < len(snapshot(store)) < len(snapshot(clean))
    resumed = index_folder(root, VectorSpace(FakeEmbedder()), store, "docs", config=CONFIG)
    assert "long.txt" in resumed.indexed
    assert snapshot(store) == snapshot(clean)


def test_a_part_that_fails_leaves_the_version_indexed_before(
    tmp_path: Path, small_parts: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = folder_with_a_long_file(tmp_path)
    store = ClientStore(":memory:")
    index_folder(root, VectorSpace(FakeEmbedder()), store, "docs", config=CONFIG)
    before = snapshot(store)
    (root / "long.txt").write_text(paragraphs(150, stem="wasps"), encoding="utf-8")
    real = loaders.load_parts

    def failing(*args: object, **kwargs: object) -> Iterator[Document]:
        for number, part in enumerate(real(*args, **kwargs)):  # type: ignore[arg-type]
            if number == 4:
                raise loaders.UnreadableFileError("unreadable: Input/output error")
            yield part

    import indexer.pipeline

    monkeypatch.setattr(indexer.pipeline, "load_parts", failing)
    report = index_folder(root, VectorSpace(FakeEmbedder()), store, "docs", config=CONFIG)
    assert [(s.path, s.reason) for s in report.skipped] == [("long.txt", "unreadable: Input/output error")]
    assert snapshot(store) == before  # the new version's first parts are gone, the old one stays whole
