"""Language of a text as an ISO 639-1 code (639-3 where there is none), or "und".

One identifier for documents, chunks, query-set records and queries (``identify``;
``detect_language`` for the code alone, search/text/query_language.py for queries).
Three steps:

1. The prose (search/text/prose.py): commands, paths, URLs, options, identifiers and
   acronyms are taken out first; they read as English whatever the document's language.
   A text that keeps no letters is code or numbers: "und".
2. The script, by line: each line votes for the script most of its letters are in (kana and
   kanji counted together: Japanese writes in both), with
   its letters weighed by how much text one letter is (a Han character about three Latin
   ones, search/text/scripts.py), and for a non-Latin script already when that holds a
   third of them (prose in any script quotes Latin-script names). So a Japanese paragraph
   that quotes package names is Japanese, and an English table in a French chapter is the
   table's language. A script
   written by one language only (Hangul, kana, Thai, Greek, Hebrew, ...) names it, even
   for a three-word heading.
3. Statistics for scripts shared by several languages (Latin, Cyrillic, Arabic, Devanagari,
   Han without kana for zh or ja), run on the winning script's lines alone, over every
   language fastText's lid.176 knows in that script, kept when confident. Below
   ``min_letters`` (weighted) a shared script gives "und".

The statistical detector is fastText lid.176 by default ("fasttext") and langdetect on
request ("langdetect", the detector the product spec first named, restricted to its
55 profiles). benchmarks/chunk_languages.py measures the candidates on real text in 70
languages (Tatoeba windows of five lengths, the Debian Reference's chapters in eight
languages, the Debian installation guide and translated man pages); the table and the
thresholds' development split are in the README ("A folder of many languages").
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Literal

import numpy as np

from search.core.types import UNDETERMINED
from search.text.prose import prose_text
from search.text.scripts import (
    MINOR_LANGUAGES,
    NOT_A_LETTER,
    SCRIPT_NAMES,
    UNAMBIGUOUS_SCRIPTS,
    _script_of,
    letter_weights,
    script_counts,
    script_indices,
    written_in,
)

if TYPE_CHECKING:
    from langdetect.detector_factory import DetectorFactory

__all__ = [
    "DEFAULT_DETECTOR",
    "LANGUAGE_DETECTORS",
    "UNAMBIGUOUS_SCRIPTS",
    "Identified",
    "LanguageDetector",
    "_script_of",
    "detect_language",
    "identify",
    "script_counts",
]

# langdetect averages 7 randomised trials that each converge to ~1.0, so its top
# probability is in effect "trials that agree / 7": 1.0, 0.857, 0.714, ...
# Requiring 6 of 7 (0.8) drops the coin flips (0.57, 0.71) between close languages.
MIN_PROBABILITY = 0.8
# Fewer (weighted) letters than this in a shared script: "und" (about one short sentence). On
# 1,295 windows of 3-30 words in 12 shared-script languages, langdetect was wrong for 9 of 231
# windows with 20-30 letters and for none with more; with 12-20 letters, 7 % were wrong.
MIN_LETTERS = 20
SEED = 0
# langdetect's trials stop at convergence or after 1000 updates. Clean text converges in well under 200;
# text that has not by then is mixed or noise (tables, word salad) and ends "und" anyway.
ITERATION_LIMIT = 200
# What is read of a long text: characters from its start, middle and end. On the 648 documents of
# the sample corpora and the generated benchmark folder, 3,000 characters gave the same answer as
# 10,000 for every document.
_SAMPLE_CHARS = 3_000
_FACTORY_LOCK = threading.Lock()

# "fasttext": fastText lid.176 with lingua's second opinion on the languages it confuses (the default);
# "fasttext-alone", "lingua" (low-accuracy mode, its 75 languages) and "langdetect" (its 55 profiles)
# are the other candidates benchmarks/chunk_languages.py compares.
LanguageDetector = Literal["fasttext", "fasttext-alone", "lingua", "langdetect"]
LANGUAGE_DETECTORS: tuple[LanguageDetector, ...] = ("fasttext", "fasttext-alone", "lingua", "langdetect")
DEFAULT_DETECTOR: LanguageDetector = "fasttext"
# fastText's answer among the script's candidates: its share of the candidates' probability mass in
# the top FASTTEXT_TOP, and its own probability (chosen on the development split of
# benchmarks/chunk_languages.py).
FASTTEXT_TOP = 10
FASTTEXT_MIN_SHARE = 0.5
FASTTEXT_MIN_PROBABILITY = 0.3
# Languages lid.176-lite confuses with a neighbour and lingua tells apart (chosen on the development
# split of benchmarks/chunk_languages.py): when one of them is among fastText's SETTLE_TOP candidates
# and fastText is not sure, lingua chooses among those candidates; when fastText has no confident
# answer at all, lingua's (among all its languages in the script) is kept if it is one of them.
# Asking lingua more widely cost Indonesian technical text (read as Malay) more than it gained; Malay
# itself stays out (development split: Malay 27 % -> 93 % but Indonesian 100 % -> 78 %), Slovak is in
# (93 % -> 100 %, Czech unchanged at 100 %).
LINGUA_SETTLES = frozenset({"no", "nn", "hr", "bs", "sl", "sw", "sk"})
SETTLE_TOP = 5
SETTLE_BELOW = 0.95
SETTLE_MIN_PROBABILITY = 0.05  # a candidate below this is noise, not a neighbour to settle with
LINGUA_MIN_CONFIDENCE = 0.5  # lingua's answer when fastText has none: kept above this confidence
SHORT_MIN_PROBABILITY = 0.8
_HAN_GROUP = "Han"  # kana lines vote with Han ones: Japanese mixes both in one sentence
_KANA_SHARE = 0.1  # Japanese prose has far more kana than this; Chinese has none
# Prose in any script quotes Latin-script terms (commands, product names) and keeps its own
# language; a line counts for another script once that holds a third of its (weighted) letters.
_LATIN_DISCOUNT = 0.5


@dataclass(frozen=True)
class Identified:
    """What the identifier read: the language, how sure it is (0..1), and which script decided."""

    code: str
    confidence: float
    script: str = ""


_UNKNOWN = Identified(UNDETERMINED, 0.0)


def detect_language(
    text: str, min_letters: int = MIN_LETTERS, detector: LanguageDetector = DEFAULT_DETECTOR
) -> str:
    """ISO 639-1 code of the text's main language, "und" when it has none or cannot be told reliably.

    ``min_letters`` applies to scripts shared by several languages; a script that
    names its language (Hangul, kana, Thai, Greek, ...) decides from two letters.
    """
    return identify(text, min_letters, detector).code


def identify(
    text: str,
    min_letters: int = MIN_LETTERS,
    detector: LanguageDetector = DEFAULT_DETECTOR,
    *,
    best_guess: bool = False,
) -> Identified:
    """The language of ``text`` with a confidence (see the module doc for the steps).

    ``best_guess`` (queries): any letter suffices and the detector's best candidate is
    returned however unsure; a query made only of code words is read as it is.
    """
    sample = _spread_sample(text, _SAMPLE_CHARS)
    prose = prose_text(sample)
    vote = _vote(prose)
    if vote is None and best_guess:
        vote = _vote(" ".join(sample.split()))
    if vote is None:
        return _UNKNOWN
    script, weight, lines, kana, han = vote
    if script == _HAN_GROUP and kana and kana >= _KANA_SHARE * (kana + han):
        return Identified("ja", 1.0, "Kana")
    main = UNAMBIGUOUS_SCRIPTS.get(script)
    if main is not None and (script not in MINOR_LANGUAGES or weight < min_letters):
        return Identified(main, 1.0, script) if weight >= 2 or best_guess else _UNKNOWN
    if weight < min_letters and not best_guess:
        # Too short for the thresholds below: a shared-script text keeps fastText's answer only when
        # it is sure (on the development half of Tatoeba's single sentences under 20 letters, 57 %
        # of them were answered at this bar, 90.7 % right; the rest stay "und").
        if detector not in ("fasttext", "fasttext-alone"):
            return _UNKNOWN
        short = _fasttext(lines, script, best_guess=True, settle=False)
        return short if short.confidence >= SHORT_MIN_PROBABILITY else _UNKNOWN
    if detector == "langdetect":
        found = _langdetect(lines, script)
    elif detector == "lingua":
        found = _lingua(lines, script)
    else:
        # Queries (best_guess) skip lingua: a query's language is shown, not used for ranking, and
        # lingua's second opinion did not change the accuracy on short texts (chunk_languages.py --parts
        # queries) while it cost more than the rest of the identification.
        found = _fasttext(lines, script, best_guess, settle=detector == "fasttext" and not best_guess)
    if found.code == UNDETERMINED and main is not None:
        return Identified(main, 1.0, script)
    return found


def _vote(text: str) -> tuple[str, float, str, int, int] | None:
    """The script most (weighted) letters are in, counted line by line (kana with Han), with its lines' text.

    Returns (script, weighted letters of its lines, those lines joined, kana, Han letters in
    them), or None when ``text`` has no letters.
    """
    if not text:
        return None
    if "\n" not in text:  # one line (a query, a heading): no vote to count
        tally = np.bincount(script_indices(text), minlength=len(SCRIPT_NAMES))
        tally[NOT_A_LETTER] = 0
        weighted = tally * _weights()
        total = float(weighted.sum())
        if not total:
            return None
        weighted[_LATIN] *= _LATIN_DISCOUNT
        best = int(np.argmax(_with_kana_as_han(weighted)))
        han_group = best == _HAN
        return (
            SCRIPT_NAMES[best],
            total,
            text,
            int(tally[_KANA]) if han_group else 0,
            int(tally[_HAN]) if han_group else 0,
        )
    scripts = script_indices(text).astype(np.int64)
    newline = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), np.uint32) == 10
    line_of = np.cumsum(newline) - newline  # the line each character is on
    n_lines = int(line_of[-1]) + 1
    width = len(SCRIPT_NAMES)
    tally = np.bincount(line_of * width + scripts, minlength=n_lines * width).reshape(n_lines, width)
    tally[:, NOT_A_LETTER] = 0
    weighted = tally * _weights()
    totals = weighted.sum(axis=1)
    if not totals.any():
        return None
    voting = _with_kana_as_han(weighted)
    voting[:, _LATIN] *= _LATIN_DISCOUNT
    winner = np.argmax(voting, axis=1)
    winner[totals == 0] = -1
    scores = np.bincount(winner[winner >= 0], weights=totals[winner >= 0], minlength=width)
    best = int(np.argmax(scores))
    chosen = winner == best
    lines = text.split("\n")
    joined = " ".join(line for line, keep in zip(lines, chosen) if keep)
    kana = int(tally[chosen, _KANA].sum()) if best == _HAN else 0
    han = int(tally[chosen, _HAN].sum()) if best == _HAN else 0
    return SCRIPT_NAMES[best], float(scores[best]), joined, kana, han


def _with_kana_as_han(weighted: np.ndarray) -> np.ndarray:
    """Kana letters counted with Han ones: a Japanese line writes in both, so they vote together
    (apart, a Japanese sentence quoting a few English menu names lost to the Latin letters)."""
    pooled = weighted.copy()
    pooled[..., _HAN] += pooled[..., _KANA]
    pooled[..., _KANA] = 0
    return pooled


_KANA = SCRIPT_NAMES.index("Kana")
_LATIN = SCRIPT_NAMES.index("Latin")
_HAN = SCRIPT_NAMES.index("Han")


@cache
def _weights() -> np.ndarray:
    return letter_weights()


def _fasttext(text: str, script: str, best_guess: bool = False, settle: bool = True) -> Identified:
    """fastText's best language among those written in ``script``, when it is confident.

    ``settle``: when one of its top candidates is a language it confuses (LINGUA_SETTLES)
    and it is not sure, lingua chooses among those candidates.
    """
    from search.text.fasttext_lid import predict

    scores: dict[str, float] = {}
    for code, probability in predict(text, k=FASTTEXT_TOP):
        if written_in(code, script):
            scores[code] = scores.get(code, 0.0) + probability
    if not scores:
        return _UNKNOWN
    ranked = sorted(scores, key=lambda code: -scores[code])
    code = ranked[0]
    total = max(sum(scores.values()), 1e-9)
    share = scores[code] / total
    top = [c for c in ranked[:SETTLE_TOP] if scores[c] >= SETTLE_MIN_PROBABILITY]
    confident = share >= FASTTEXT_MIN_SHARE and scores[code] >= FASTTEXT_MIN_PROBABILITY
    if settle and confident and share < SETTLE_BELOW and LINGUA_SETTLES.intersection(top):
        from search.text.lingua_lid import detect_among

        settled = detect_among(text, top)
        if settled is not None:
            return Identified(settled, round(max(scores.get(settled, 0.0) / total, 0.5), 4), script)
    elif settle and not confident:  # fastText has no idea: is it one of the languages it confuses?
        found = _lingua(text, script, LINGUA_MIN_CONFIDENCE)
        if found.code in LINGUA_SETTLES:
            return found
    if best_guess or confident:
        return Identified(code, round(min(1.0, scores[code]), 4), script)
    return _UNKNOWN


def _lingua(text: str, script: str, min_confidence: float = 0.0) -> Identified:
    """lingua's choice among its languages written in ``script`` (low-accuracy mode)."""
    from search.text.lingua_lid import detect_among, lingua_languages

    candidates = [code for code in lingua_languages() if written_in(code, script)]
    found = detect_among(text, candidates, min_confidence)
    return _UNKNOWN if found is None else Identified(found, 1.0, script)


def _langdetect(text: str, script: str) -> Identified:
    from langdetect.lang_detect_exception import LangDetectException

    factory = _factory()
    detector = factory.create()
    detector.ITERATION_LIMIT = ITERATION_LIMIT  # instance attribute: langdetect's class default stays intact
    prior = {lang: 1.0 for lang in factory.get_lang_list() if written_in(_iso(lang), script)}
    if not prior:  # no profile in this script
        return _UNKNOWN
    detector.set_prior_map(prior)
    detector.append(text)
    try:
        ranked = detector.get_probabilities()
    except LangDetectException:
        return _UNKNOWN
    merged: dict[str, float] = {}
    for candidate in ranked:  # zh-cn and zh-tw are one language for us: add their votes
        code = _iso(candidate.lang)
        merged[code] = merged.get(code, 0.0) + candidate.prob
    code, probability = max(merged.items(), key=lambda item: item[1], default=(UNDETERMINED, 0.0))
    if probability < MIN_PROBABILITY:
        return _UNKNOWN
    return Identified(code, round(probability, 4), script)


_LANGDETECT_TO_ISO = {"zh-cn": "zh", "zh-tw": "zh"}


def _iso(langdetect_code: str) -> str:
    return _LANGDETECT_TO_ISO.get(langdetect_code, langdetect_code)


# langdetect 1.0.9's profiles (pinned; tests/test_language_detectors.py checks the list), as ISO codes.
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
    return "\n".join((text[:part], text[middle : middle + part], text[-part:]))
