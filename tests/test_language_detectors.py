"""fastText (the default) and langdetect (on request) behind one detect_language; script counts by table.

The indexer tells every document's and chunk's language with fastText now (0.2 vs 2.7 ms a chunk);
langdetect stays available and must keep answering as it did.
"""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from indexer.chunking import chunk_document
from search.core.types import UNDETERMINED, Document, Section
from search.text.language import (
    LANGUAGE_DETECTORS,
    LanguageDetector,
    _script_of,
    detect_language,
    script_counts,
)
from tests.fakes import FakeEmbedder, fake_spec
from tests.test_language import SAMPLES


def loop_counts(text: str) -> Counter[str]:
    """The per-character definition the table reproduces."""
    counts: Counter[str] = Counter()
    for ch in text:
        script = _script_of(ch)
        if script is not None:
            counts[script] += 1
    return counts


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=80) | st.text(max_size=80))
def test_script_counts_by_table_match_the_loop_in_value_and_order(text: str) -> None:
    counts = script_counts(text)
    expected = loop_counts(text)
    assert counts == expected
    assert list(counts) == list(expected)  # most_common breaks ties by first appearance


def test_script_counts_beyond_the_table() -> None:
    assert script_counts("𠀀𠀁 abc 👍") == Counter({"Latin": 3, "Han": 2})


@pytest.mark.parametrize("detector", LANGUAGE_DETECTORS)
@pytest.mark.parametrize("language", sorted(SAMPLES))
def test_both_detectors_name_the_sample_paragraphs(detector: LanguageDetector, language: str) -> None:
    assert detect_language(SAMPLES[language][1], detector=detector) == language


@pytest.mark.parametrize("detector", LANGUAGE_DETECTORS)
def test_both_detectors_leave_short_or_letterless_text_undetermined(detector: LanguageDetector) -> None:
    for text in ("", "12345 !!!", "Hello", "https://example.com/a/b"):
        assert detect_language(text, detector=detector) == UNDETERMINED


def test_fasttext_keeps_to_the_scripts_languages() -> None:
    """Cyrillic text is one of ru/uk/bg/mk whatever fastText's top guess among all 176."""
    assert detect_language("Україна — держава у Східній Європі, її столиця Київ.") == "uk"


@pytest.mark.parametrize("detector", LANGUAGE_DETECTORS)
def test_a_chunk_in_another_language_than_its_document_gets_its_own(detector: LanguageDetector) -> None:
    german = SAMPLES["de"][1]
    english = SAMPLES["en"][1]
    doc = Document(
        "/d/a.txt",
        "/d",
        "h",
        "txt",
        (Section(german), Section(english), Section(german)),
        language=detect_language(german, detector=detector),
    )
    embedder = FakeEmbedder(fake_spec(max_tokens=512))
    budget = max(len(german.split()), len(english.split())) + 4
    chunks = chunk_document(doc, embedder, budget, 0, detector=detector)
    assert [c.language for c in chunks] == ["de", "en", "de"]
    assert {c.doc_language for c in chunks} == {"de"}


def test_the_latin_candidates_are_langdetects_languages() -> None:
    from search.text.language import LANGDETECT_LANGUAGES, _factory, _iso

    assert frozenset(_iso(lang) for lang in _factory().get_lang_list()) == LANGDETECT_LANGUAGES
