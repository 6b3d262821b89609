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


# Project-written text in the style of a technical manual: prose quoting commands, paths and options.
TECHNICAL = {
    "ja": (
        'cron(8) はコマンドを定期的に実行するデーモンです。設定は /etc/crontab に書き、"crontab -e" で編集します。\n'
        "$ crontab -l\n0 5 * * * /usr/local/bin/backup.sh"
    ),
    "zh": (
        '使用 "apt-get install" 命令安装软件包，配置文件位于 /etc/apt/sources.list 中。\n'
        "# apt-get update\n# apt-get install vim"
    ),
    "ko": 'systemctl(1) 명령으로 서비스를 시작하거나 멈출 수 있습니다. 예: "systemctl restart ssh".',
    "de": (
        'Mit "systemctl restart ssh.service" startet man den Dienst neu; die Protokolle stehen in '
        "/var/log/syslog und lassen sich mit journalctl -u ssh lesen."
    ),
    "fr": (
        "Pour planifier une tâche, éditez la table avec « crontab -e » ; chaque ligne indique quand lancer "
        "la commande, par exemple /usr/bin/rsync -a ~/docs /mnt/backup."
    ),
}


@pytest.mark.parametrize("language", sorted(TECHNICAL))
def test_prose_quoting_commands_and_paths_is_read_in_its_language(language: str) -> None:
    """Issue 22: Japanese chapters with commands inline came out "und" (the Latin letters won)."""
    assert detect_language(TECHNICAL[language], 40) == language


def test_code_alone_has_no_language_and_a_chunk_of_it_takes_its_documents() -> None:
    code = "$ ls -l /etc/apt\n# apt-get install -y vim-nox\nx86_64 3.14 --force"
    assert detect_language(code) == UNDETERMINED
    doc = Document("/d/a.txt", "/d", "h", "txt", (Section(TECHNICAL["ja"]), Section(code)), language="ja")
    chunks = chunk_document(doc, FakeEmbedder(fake_spec(max_tokens=512)), 12, 0)
    assert len(chunks) >= 2 and {c.language for c in chunks} == {"ja"}


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Jeg har aldri vært i Paris, men jeg vil gjerne reise dit neste sommer med familien min.", "no"),
        ("Ninapenda kusoma vitabu na kunywa chai asubuhi na jioni kila siku.", "sw"),
        ("Danes je lep dan in gremo na sprehod ob reki z mojimi prijatelji.", "sl"),
    ],
)
def test_lingua_settles_what_the_compressed_fasttext_model_confuses(text: str, language: str) -> None:
    assert detect_language(text, detector="fasttext-alone") != language  # Danish, or nothing sure
    assert detect_language(text) == language
