"""Chunking by structure and token budget: headings, whole paragraphs, sentence ends, overlap, metadata."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from itertools import pairwise

import pytest

from indexer.chunking import NAMESPACE, chunk_document, chunk_id
from search.core.types import Chunk, Document, Section
from tests.fakes import FakeEmbedder


def make_doc(*sections: Section, language: str = "en", source: str = "/data/docs/a.txt") -> Document:
    return Document(
        source=source,
        root="/data/docs",
        content_hash="abc123",
        format="txt",
        sections=sections,
        language=language,
    )


def words(n: int, word: str = "word") -> str:
    return " ".join(f"{word}{i}" for i in range(n))


def sentences(n: int, length: int = 5, stem: str = "w") -> str:
    """n sentences of ``length`` words, each starting with a capital letter as sentences do."""
    return " ".join(
        " ".join(f"{stem}{i}x{j}".capitalize() if j == 0 else f"{stem}{i}x{j}" for j in range(length)) + "."
        for i in range(n)
    )


class Recording:
    """FakeEmbedder's counts, remembering every batch it was asked for."""

    def __init__(self) -> None:
        self.batches: list[int] = []

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        self.batches.append(len(texts))
        return [len(t.split()) for t in texts]

    def document_overhead(self) -> int:
        return 0


class Chars:
    """One token per non-space character: a stand-in for CJK-heavy subword tokenizers."""

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [sum(1 for ch in t if not ch.isspace()) for t in texts]

    def document_overhead(self) -> int:
        return 0


class JoinPenalty:
    """Not additive: every paragraph break and sentence join costs extra, like merges at subword boundaries."""

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(t.split()) + 3 * t.count("\n\n") + 2 * len(re.findall(r"[.!?] ", t)) for t in texts]

    def document_overhead(self) -> int:
        return 0


def assert_valid(doc: Document, chunks: list[Chunk], counter: object, max_tokens: int) -> None:
    text = doc.text
    covered = bytearray(len(text))
    for position, chunk in enumerate(chunks):
        assert chunk.position == position
        assert chunk.n_chunks == len(chunks)
        assert chunk.text == text[chunk.start : chunk.end]
        assert counter.count_tokens([chunk.text])[0] <= max_tokens  # type: ignore[attr-defined]
        covered[chunk.start : chunk.end] = b"\x01" * (chunk.end - chunk.start)
    missing = [i for i, ch in enumerate(text) if not ch.isspace() and not covered[i]]
    assert not missing, f"characters not in any chunk: {[text[i] for i in missing[:20]]}"


def test_empty_document_has_no_chunks() -> None:
    assert chunk_document(make_doc(), FakeEmbedder(), 50, 10) == []


@pytest.mark.parametrize("budget", [0, -3])
def test_budget_must_be_positive(budget: int) -> None:
    with pytest.raises(ValueError):
        chunk_document(make_doc(Section("text")), FakeEmbedder(), budget, 0)


def test_heading_starts_a_chunk_and_labels_the_chunks_below_it() -> None:
    doc = make_doc(
        Section("Introduction", kind="title"),
        Section(sentences(2)),
        Section(sentences(2)),
        Section("Methods", kind="title"),
        Section(sentences(2)),
    )
    chunks = chunk_document(doc, FakeEmbedder(), 100, 10)
    assert [c.heading for c in chunks] == ["Introduction", "Methods"]
    assert chunks[0].text.startswith("Introduction\n\n")
    assert chunks[1].text.startswith("Methods\n\n")
    assert chunks[1].start > chunks[0].end  # no overlap across the heading
    assert_valid(doc, chunks, FakeEmbedder(), 100)


def test_text_before_the_first_heading_has_no_heading() -> None:
    doc = make_doc(Section(sentences(2)), Section("Later", kind="title"), Section(sentences(1)))
    assert [c.heading for c in chunk_document(doc, FakeEmbedder(), 100, 0)] == ["", "Later"]


def test_consecutive_headings_stay_with_their_content() -> None:
    doc = make_doc(
        Section("Part One", kind="title"), Section("Chapter 1", kind="title"), Section(sentences(3))
    )
    chunks = chunk_document(doc, FakeEmbedder(), 100, 0)
    assert len(chunks) == 1
    assert chunks[0].heading == "Chapter 1"
    assert chunks[0].text.startswith("Part One\n\nChapter 1\n\n")


def test_heading_is_carried_by_every_chunk_of_a_long_section() -> None:
    doc = make_doc(Section("Results", kind="title"), Section(sentences(30)))
    chunks = chunk_document(doc, FakeEmbedder(), 40, 5)
    assert len(chunks) > 3
    assert {c.heading for c in chunks} == {"Results"}
    assert chunks[0].text.startswith("Results")
    assert not any(c.text.startswith("Results") for c in chunks[1:])


def test_paragraphs_are_kept_whole_when_they_fit() -> None:
    paragraphs = [sentences(6, 5, stem=f"p{k}") for k in range(3)]  # 30 words each
    doc = make_doc(*(Section(p) for p in paragraphs))
    chunks = chunk_document(doc, FakeEmbedder(), 70, 0)
    assert [c.text for c in chunks] == [paragraphs[0] + "\n\n" + paragraphs[1], paragraphs[2]]


def test_small_sections_are_packed_together() -> None:
    items = [Section(f"item {i} done", kind="list") for i in range(40)]  # 3 words each
    doc = make_doc(*items)
    chunks = chunk_document(doc, FakeEmbedder(), 30, 0)
    assert len(chunks) == 4
    assert all(c.text.count("\n\n") == 9 for c in chunks)
    assert_valid(doc, chunks, FakeEmbedder(), 30)


def test_long_paragraph_is_cut_at_sentence_ends() -> None:
    doc = make_doc(Section(sentences(20, 8)))
    chunks = chunk_document(doc, FakeEmbedder(), 30, 0)
    assert len(chunks) >= 6
    assert all(c.text.endswith(".") for c in chunks)
    assert_valid(doc, chunks, FakeEmbedder(), 30)


@pytest.mark.parametrize(
    ("sentence", "end"),
    [
        ("今日はとても良い天気なので海に行きます。", "。"),
        ("今天天气很好我们去海边散步吧！", "！"),
        ("今天天气很好我们去海边散步吧!", "!"),  # NFKC form of the full-width mark, no space after it
        ("आज मौसम बहुत अच्छा है और हम बाहर जा रहे हैं।", "।"),
        ("هل ستذهب إلى السوق اليوم مع أصدقائك؟", "؟"),
        ("ذهبنا إلى السوق واشترينا الخبز والحليب.", "."),
    ],
)
def test_sentence_ends_in_other_scripts(sentence: str, end: str) -> None:
    doc = make_doc(Section("".join([sentence] * 12) if end in "。！!" else " ".join([sentence] * 12)))
    budget = Chars().count_tokens([sentence])[0] * 3
    chunks = chunk_document(doc, Chars(), budget, 0)
    assert len(chunks) >= 4
    assert all(c.text.endswith(end) for c in chunks)
    assert_valid(doc, chunks, Chars(), budget)


def test_thai_sentences_are_separated_by_spaces() -> None:
    thai = ["วันนี้อากาศดีมาก", "เราจะไปทะเลกัน", "พรุ่งนี้ฝนจะตก", "แม่ทำอาหารอร่อย"] * 6
    doc = make_doc(Section(" ".join(thai)))
    chunks = chunk_document(doc, Chars(), 40, 0)
    text = doc.text
    assert len(chunks) > 3
    for chunk in chunks:  # every cut falls on a space between two Thai sentences
        assert chunk.start == 0 or text[chunk.start - 1] == " "
        assert chunk.end == len(text) or text[chunk.end] == " "
    assert_valid(doc, chunks, Chars(), 40)


def test_sentence_longer_than_the_budget_is_cut_into_word_windows() -> None:
    doc = make_doc(Section(words(200)))
    chunks = chunk_document(doc, FakeEmbedder(), 50, 0)
    assert len(chunks) == 4
    assert_valid(doc, chunks, FakeEmbedder(), 50)


def test_text_without_spaces_or_punctuation_is_cut_between_characters() -> None:
    han = "西湖龙井是中国最著名的绿茶之一产于浙江省杭州市西湖周围的山区" * 20
    deva = "स्ते" * 100
    doc = make_doc(Section(han), Section(deva))
    chunks = chunk_document(doc, Chars(), 64, 8)
    assert_valid(doc, chunks, Chars(), 64)
    for chunk in chunks:  # never between a consonant and its virama/vowel sign
        assert chunk.text[0] not in "\u094d\u0947"


def test_overlap_repeats_trailing_sentences_within_the_budget() -> None:
    doc = make_doc(Section(sentences(12, 5)))  # 5-word sentences
    chunks = chunk_document(doc, FakeEmbedder(), 20, 10)
    assert len(chunks) > 3
    text = doc.text
    for prev, nxt in pairwise(chunks):
        assert nxt.start < prev.end  # they overlap ...
        shared = text[nxt.start : prev.end]
        assert len(shared.split()) <= 10  # ... by at most the overlap budget ...
        assert shared.endswith(".") and (
            nxt.start == 0 or text[nxt.start - 2] == "."
        )  # ... in whole sentences
    assert_valid(doc, chunks, FakeEmbedder(), 20)


def test_overlap_is_at_most_half_the_budget() -> None:
    doc = make_doc(Section(sentences(12, 2)))
    chunks = chunk_document(doc, FakeEmbedder(), 8, 100)
    for prev, nxt in pairwise(chunks):
        assert len(doc.text[nxt.start : prev.end].split()) <= 4


def test_overlap_never_crosses_a_heading() -> None:
    doc = make_doc(Section(sentences(8)), Section("Next part", kind="title"), Section(sentences(8)))
    chunks = chunk_document(doc, FakeEmbedder(), 20, 10)
    heading_at = doc.text.index("Next part")
    first_below = next(c for c in chunks if c.heading == "Next part")
    assert first_below.start == heading_at
    assert all(c.end <= heading_at for c in chunks if c.heading == "")


def test_page_is_the_page_where_the_chunk_starts() -> None:
    doc = make_doc(
        Section(sentences(4), page=1), Section(sentences(4), page=2), Section(sentences(4), page=3)
    )
    chunks = chunk_document(doc, FakeEmbedder(), 30, 0)
    starts = [0, len(doc.sections[0].text) + 2, len(doc.sections[0].text) + len(doc.sections[1].text) + 4]
    for chunk in chunks:
        page = max(i for i, s in enumerate(starts) if s <= chunk.start) + 1
        assert chunk.page == page


def test_language_per_chunk_with_fallback_to_the_document() -> None:
    doc = make_doc(
        Section("English", kind="title"),
        Section("Honeybees are social insects that live in large colonies and make honey from nectar."),
        Section("Deutsch", kind="title"),
        Section("Wildbienen sind für die Bestäubung vieler Pflanzen unverzichtbar und oft gefährdet."),
        Section("Kurz", kind="title"),
        Section("Ja."),
        language="en",
    )
    chunks = chunk_document(doc, FakeEmbedder(), 100, 0)
    assert [c.language for c in chunks] == ["en", "de", "en"]  # "Kurz / Ja." is too short: document language
    assert {c.doc_language for c in chunks} == {"en"}


def test_chunk_fields_come_from_the_document() -> None:
    doc = make_doc(Section("Title", kind="title"), Section(sentences(10)))
    chunks = chunk_document(doc, FakeEmbedder(), 20, 5)
    for chunk in chunks:
        assert (chunk.source, chunk.root, chunk.doc_hash, chunk.format) == (
            doc.source,
            doc.root,
            "abc123",
            "txt",
        )
        assert chunk.n_chunks == len(chunks)


def test_ids_are_deterministic_and_depend_on_source_position_and_text() -> None:
    doc = make_doc(Section(sentences(20)))
    first = chunk_document(doc, FakeEmbedder(), 25, 5)
    second = chunk_document(doc, FakeEmbedder(), 25, 5)
    assert [c.id for c in first] == [c.id for c in second]
    assert len({c.id for c in first}) == len(first)
    assert all(uuid.UUID(c.id).version == 5 for c in first)
    assert chunk_id("/a", 0, "x") == str(
        uuid.uuid5(NAMESPACE, "/a\n0\n" + __import__("hashlib").sha256(b"x").hexdigest())
    )
    assert (
        len({chunk_id("/a", 0, "x"), chunk_id("/b", 0, "x"), chunk_id("/a", 1, "x"), chunk_id("/a", 0, "y")})
        == 4
    )
    other = chunk_document(make_doc(Section(sentences(20)), source="/data/docs/b.txt"), FakeEmbedder(), 25, 5)
    assert not {c.id for c in first} & {c.id for c in other}


def test_ids_change_only_where_the_text_changes() -> None:
    a = make_doc(
        Section("Head", kind="title"),
        Section(sentences(6)),
        Section("Tail", kind="title"),
        Section("Last words here."),
    )
    b = make_doc(*a.sections[:3], Section("Last words changed."))
    ids_a = [c.id for c in chunk_document(a, FakeEmbedder(), 100, 0)]
    ids_b = [c.id for c in chunk_document(b, FakeEmbedder(), 100, 0)]
    assert ids_a[0] == ids_b[0]
    assert ids_a[1] != ids_b[1]


def test_tokens_are_counted_in_a_few_batches_not_per_candidate() -> None:
    doc = make_doc(*(Section(sentences(20, 6)) for _ in range(10)))  # 200 sentences
    counter = Recording()
    chunks = chunk_document(doc, counter, 50, 10)
    assert len(counter.batches) <= 3
    assert sum(counter.batches) <= 200 + len(chunks)


def test_budget_holds_for_a_counter_that_is_not_additive() -> None:
    doc = make_doc(*(Section(sentences(k % 5 + 1, 4)) for k in range(30)))
    counter = JoinPenalty()
    for budget in (12, 20, 33, 60):
        chunks = chunk_document(doc, counter, budget, budget // 3)
        assert_valid(doc, chunks, counter, budget)
