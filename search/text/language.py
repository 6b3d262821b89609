"""Language of a text as an ISO 639-1 code, or "und".

Two stages. Writing systems used by one language only (Hangul, kana, Thai,
Greek, Hebrew, Georgian, the South Indian scripts, ...) decide at once, even
for a three-word heading where statistics have nothing to work with. Scripts
shared by many languages (Latin, Cyrillic, Arabic, Devanagari for hi/mr/ne,
Han without kana for zh/ja) go to a statistical detector, restricted to the
languages written in that script, and kept only when it is confident.

The statistical detector is fastText lid.176 by default ("fasttext") and
langdetect on request ("langdetect", the detector the product spec first
named). Measured on this project's material (search/text/fasttext_lid.py and
search/text/query_language.py): the same answer as langdetect for every one of
the 648 documents and 4,007 chunks of the sample corpora and the generated
benchmark folder, far more accurate on short text (94.3 % vs 69.4 % on 5,810
short texts), and 0.17 vs 2.7 ms on a 600-character chunk, which made
langdetect the largest cost of indexing outside the model.
"""

from __future__ import annotations

import bisect
import threading
import unicodedata
from collections import Counter
from functools import cache
from typing import TYPE_CHECKING, Literal

import numpy as np

from search.core.types import UNDETERMINED

if TYPE_CHECKING:
    from langdetect.detector_factory import DetectorFactory

# langdetect averages 7 randomised trials that each converge to ~1.0, so its top
# probability is in effect "trials that agree / 7": 1.0, 0.857, 0.714, ...
# Requiring all 7 (0.9) mostly threw away correct one-sentence answers (a Spanish
# or a Chinese sentence at 0.857); requiring 6 of 7 (0.8) drops the coin flips
# (0.57, 0.71) between close languages. Length matters more than confidence:
# on 1,295 windows of 3-30 words cut from texts in 12 shared-script languages
# (tests/test_language.py), answers were wrong for 9 of 231 windows with 20-30
# letters and for 0 of 270 with more; with 12-20 letters, 7% were wrong, hence
# MIN_LETTERS (Han: MIN_HAN_LETTERS; 29 decided, 0 wrong).
MIN_PROBABILITY = 0.8
MIN_LETTERS = 20  # fewer letters than this in a shared script: "und" (about one short sentence)
MIN_HAN_LETTERS = 8  # a Han character carries about as much as a short word
SEED = 0
# langdetect's trials stop at convergence or after 1000 updates. Clean text converges in well under 200;
# text that has not by then is mixed or noise (tables, word salad) and ends "und" anyway. Measured on the
# windows above: same accuracy (9 vs 11 wrong of 510 kept), half the time on mixed-language chunks.
ITERATION_LIMIT = 200

# (first code point, last code point, script), sorted, non-overlapping.
_RANGES: tuple[tuple[int, int, str], ...] = (
    (0x0041, 0x024F, "Latin"),
    (0x0370, 0x03FF, "Greek"),
    (0x0400, 0x052F, "Cyrillic"),
    (0x0530, 0x058F, "Armenian"),
    (0x0590, 0x05FF, "Hebrew"),
    (0x0600, 0x06FF, "Arabic"),
    (0x0750, 0x077F, "Arabic"),
    (0x08A0, 0x08FF, "Arabic"),
    (0x0900, 0x097F, "Devanagari"),
    (0x0980, 0x09FF, "Bengali"),
    (0x0A00, 0x0A7F, "Gurmukhi"),
    (0x0A80, 0x0AFF, "Gujarati"),
    (0x0B00, 0x0B7F, "Oriya"),
    (0x0B80, 0x0BFF, "Tamil"),
    (0x0C00, 0x0C7F, "Telugu"),
    (0x0C80, 0x0CFF, "Kannada"),
    (0x0D00, 0x0D7F, "Malayalam"),
    (0x0D80, 0x0DFF, "Sinhala"),
    (0x0E00, 0x0E7F, "Thai"),
    (0x0E80, 0x0EFF, "Lao"),
    (0x0F00, 0x0FFF, "Tibetan"),
    (0x1000, 0x109F, "Myanmar"),
    (0x10A0, 0x10FF, "Georgian"),
    (0x1100, 0x11FF, "Hangul"),
    (0x1200, 0x139F, "Ethiopic"),
    (0x1780, 0x17FF, "Khmer"),
    (0x1E00, 0x1EFF, "Latin"),
    (0x1F00, 0x1FFF, "Greek"),
    (0x3040, 0x309F, "Kana"),
    (0x30A0, 0x30FF, "Kana"),
    (0x3130, 0x318F, "Hangul"),
    (0x31F0, 0x31FF, "Kana"),
    (0x3400, 0x4DBF, "Han"),
    (0x4E00, 0x9FFF, "Han"),
    (0xAC00, 0xD7AF, "Hangul"),
    (0xF900, 0xFAFF, "Han"),
    (0xFB1D, 0xFB4F, "Hebrew"),
    (0xFB50, 0xFDFF, "Arabic"),
    (0xFE70, 0xFEFF, "Arabic"),
    (0xFF21, 0xFF5A, "Latin"),
    (0xFF66, 0xFF9F, "Kana"),
    (0xFFA0, 0xFFDC, "Hangul"),
    (0x20000, 0x3134F, "Han"),
)
_STARTS = [r[0] for r in _RANGES]

# Scripts that identify a language by themselves (Devanagari does not: hi, mr, ne; nor Bengali: bn, as).
UNAMBIGUOUS_SCRIPTS: dict[str, str] = {
    "Hangul": "ko",
    "Kana": "ja",
    "Thai": "th",
    "Greek": "el",
    "Hebrew": "he",
    "Armenian": "hy",
    "Georgian": "ka",
    "Lao": "lo",
    "Khmer": "km",
    "Myanmar": "my",
    "Sinhala": "si",
    "Tamil": "ta",
    "Telugu": "te",
    "Kannada": "kn",
    "Malayalam": "ml",
    "Gujarati": "gu",
    "Gurmukhi": "pa",
    "Oriya": "or",
    "Tibetan": "bo",
}
_LANGDETECT_TO_ISO = {"zh-cn": "zh", "zh-tw": "zh"}
# Languages langdetect may answer for text mostly in a shared script. Its Korean profile
# knows Hanja, so a Chinese table of short Han words can come out "ko"; with the
# candidates restricted by script (a zero prior), that cannot happen.
_NON_LATIN = {
    "Han": frozenset({"zh", "ja"}),
    "Cyrillic": frozenset({"ru", "uk", "bg", "mk"}),
    "Arabic": frozenset({"ar", "fa", "ur"}),
    "Devanagari": frozenset({"hi", "mr", "ne"}),
    "Bengali": frozenset({"bn"}),
}
_NOT_LATIN_SCRIPT = frozenset(
    {
        "ar",
        "bg",
        "bn",
        "el",
        "fa",
        "gu",
        "he",
        "hi",
        "ja",
        "kn",
        "ko",
        "mk",
        "ml",
        "mr",
        "ne",
        "pa",
        "ru",
        "ta",
        "te",
        "th",
        "uk",
        "ur",
        "zh",
    }
)
# langdetect's cost grows with the text (every character's n-grams are extracted) and its answer stops
# changing long before its own 10,000-character cap: on the 648 documents of the sample corpora and the
# generated benchmark folder, 3,000 and even 1,500 characters gave the same answer as 10,000 for every
# document, in a quarter less CPU time (langdetect is most of the indexer's CPU time outside the model).
_SAMPLE_CHARS = 3_000
_FACTORY_LOCK = threading.Lock()

LanguageDetector = Literal["fasttext", "langdetect"]
LANGUAGE_DETECTORS: tuple[LanguageDetector, ...] = ("fasttext", "langdetect")
DEFAULT_DETECTOR: LanguageDetector = "fasttext"
# fastText's answer among the script's candidates: its share of the candidates' probability mass in
# the top FASTTEXT_TOP, and its own probability. On the 1-8 sentence Tatoeba windows of 23
# shared-script languages these kept more windows than langdetect's 0.8 and none wrong.
FASTTEXT_TOP = 10
FASTTEXT_MIN_SHARE = 0.5
FASTTEXT_MIN_PROBABILITY = 0.3


def detect_language(
    text: str, min_letters: int = MIN_LETTERS, detector: LanguageDetector = DEFAULT_DETECTOR
) -> str:
    """ISO 639-1 code of the text's main language, "und" when it cannot be told reliably.

    ``min_letters`` applies to scripts shared by several languages; a script that
    names its language (Hangul, kana, Thai, Greek, ...) decides from two letters.
    """
    sample = _spread_sample(text, _SAMPLE_CHARS)
    scripts = script_counts(sample)
    letters = sum(scripts.values())
    if letters == 0:
        return UNDETERMINED
    by_script = _language_from_script(scripts, letters)
    if by_script is not None:
        return by_script
    han = scripts.get("Han", 0)
    needed = -(-min_letters * MIN_HAN_LETTERS // MIN_LETTERS) if han * 2 >= letters else min_letters
    if letters < needed:
        return UNDETERMINED
    script = scripts.most_common(1)[0][0]
    if detector == "langdetect":
        return _langdetect(sample, script)
    return _fasttext(sample, script)


def _fasttext(text: str, script: str) -> str:
    """fastText's best language among those written in ``script``, when it is confident."""
    from search.text.fasttext_lid import predict

    allowed = _candidates(script)
    scores: dict[str, float] = {}
    for code, probability in predict(text, k=FASTTEXT_TOP):
        if allowed is None or code in allowed:
            scores[code] = scores.get(code, 0.0) + probability
    if not scores:
        return UNDETERMINED
    code, probability = max(scores.items(), key=lambda item: item[1])
    share = probability / max(sum(scores.values()), 1e-9)
    return code if share >= FASTTEXT_MIN_SHARE and probability >= FASTTEXT_MIN_PROBABILITY else UNDETERMINED


# Code points below this are looked up in a table built once: one numpy lookup and bincount per
# text instead of a Python loop per character (0.2-0.4 ms on a 600-character chunk, more than
# fastText itself). Text with a code point beyond it (rare Han extensions, emoji) takes the loop.
_TABLE_LIMIT = 0x31350
_SCRIPT_NAMES = (*sorted({r[2] for r in _RANGES} | {"Other"}), "")  # "" = not a letter or mark
_TABLE_LOCK = threading.Lock()


def script_counts(text: str) -> Counter[str]:
    """Letters per script (marks count with their script, so Devanagari vowel signs count)."""
    counts: Counter[str] = Counter()
    if not text:
        return counts
    if not text.isascii() and ord(max(text)) >= _TABLE_LIMIT:
        for ch in text:
            script = _script_of(ch)
            if script is not None:
                counts[script] += 1
        return counts
    codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    scripts = _script_table()[codes]
    # Insertion in order of first appearance, as the loop did: Counter.most_common breaks ties by it.
    present, first = np.unique(scripts, return_index=True)
    tally = np.bincount(scripts, minlength=len(_SCRIPT_NAMES))
    for index in present[np.argsort(first)]:
        name = _SCRIPT_NAMES[index]
        if name:
            counts[name] = int(tally[index])
    return counts


def _script_table() -> np.ndarray:
    with _TABLE_LOCK:
        return _build_script_table()


@cache
def _build_script_table() -> np.ndarray:
    """Code point -> index of its script in _SCRIPT_NAMES (the last, "", for non-letters)."""
    index = {name: i for i, name in enumerate(_SCRIPT_NAMES)}
    none = index[""]
    return np.array(
        [index.get(_script_of(chr(cp)) or "", none) for cp in range(_TABLE_LIMIT)], dtype=np.uint8
    )


def _script_of(ch: str) -> str | None:
    alpha = ch.isalpha()
    if not alpha and unicodedata.category(ch)[0] != "M":
        return None
    cp = ord(ch)
    i = bisect.bisect_right(_STARTS, cp) - 1
    if i >= 0 and cp <= _RANGES[i][1]:
        return _RANGES[i][2]
    return "Other" if alpha else None


def _language_from_script(scripts: Counter[str], letters: int) -> str | None:
    kana, han = scripts.get("Kana", 0), scripts.get("Han", 0)
    if kana and kana * 10 >= kana + han and (kana + han) * 2 >= letters:
        return "ja"  # Japanese mixes Han with kana; Chinese never uses kana
    script, count = scripts.most_common(1)[0]
    if script in UNAMBIGUOUS_SCRIPTS and count * 2 >= letters and count >= 2:
        return UNAMBIGUOUS_SCRIPTS[script]
    return None


def _langdetect(text: str, script: str) -> str:
    from langdetect.lang_detect_exception import LangDetectException

    factory = _factory()
    detector = factory.create()
    detector.ITERATION_LIMIT = ITERATION_LIMIT  # instance attribute: langdetect's class default stays intact
    allowed = _candidates(script)
    if allowed is not None:
        detector.set_prior_map({lang: 1.0 for lang in factory.get_lang_list() if _iso(lang) in allowed})
    detector.append(text)
    try:
        ranked = detector.get_probabilities()
    except LangDetectException:
        return UNDETERMINED
    merged: dict[str, float] = {}
    for candidate in ranked:  # zh-cn and zh-tw are one language for us: add their votes
        code = _iso(candidate.lang)
        merged[code] = merged.get(code, 0.0) + candidate.prob
    code, probability = max(merged.items(), key=lambda item: item[1], default=(UNDETERMINED, 0.0))
    return code if probability >= MIN_PROBABILITY else UNDETERMINED


def _iso(langdetect_code: str) -> str:
    return _LANGDETECT_TO_ISO.get(langdetect_code, langdetect_code)


def _candidates(script: str) -> frozenset[str] | None:
    """ISO codes that can be written in ``script``; None when langdetect should consider all."""
    if script == "Latin":
        return _LATIN_CANDIDATES
    return _NON_LATIN.get(script)


# langdetect 1.0.9's profiles (pinned; tests/test_language_detectors.py checks the list), as ISO codes:
# fastText's answers are kept to these too, without loading langdetect's profiles to know them.
LANGDETECT_LANGUAGES = frozenset(
    [
        "af",
        "ar",
        "bg",
        "bn",
        "ca",
        "cs",
        "cy",
        "da",
        "de",
        "el",
        "en",
        "es",
        "et",
        "fa",
        "fi",
        "fr",
        "gu",
        "he",
        "hi",
        "hr",
        "hu",
        "id",
        "it",
        "ja",
        "kn",
        "ko",
        "lt",
        "lv",
        "mk",
        "ml",
        "mr",
        "ne",
        "nl",
        "no",
        "pa",
        "pl",
        "pt",
        "ro",
        "ru",
        "sk",
        "sl",
        "so",
        "sq",
        "sv",
        "sw",
        "ta",
        "te",
        "th",
        "tl",
        "tr",
        "uk",
        "ur",
        "vi",
        "zh",
    ]
)
_LATIN_CANDIDATES = LANGDETECT_LANGUAGES - _NOT_LATIN_SCRIPT


def _factory() -> DetectorFactory:
    """The process-wide detector factory; the lock makes concurrent first calls load profiles once."""
    with _FACTORY_LOCK:
        return _load_factory()


@cache
def _load_factory() -> DetectorFactory:
    from langdetect.detector_factory import PROFILES_DIRECTORY, DetectorFactory

    factory = DetectorFactory()
    factory.load_profile(PROFILES_DIRECTORY)
    factory.set_seed(SEED)  # each Detector seeds its own random.Random from this: same text, same answer
    return factory


def _spread_sample(text: str, size: int) -> str:
    """Up to ``size`` characters taken from the start, middle and end, so a long English
    preface does not decide the language of a German book."""
    if len(text) <= size:
        return text
    part = size // 3
    middle = (len(text) - part) // 2
    return " ".join((text[:part], text[middle : middle + part], text[-part:]))
