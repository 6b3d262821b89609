"""Writing systems: which script each letter belongs to, and which languages each script writes.

The first step of language identification (search/text/language.py): a script used by one
language only (Hangul, kana, Thai, Greek, ...) names it even in a three-word heading; a
script shared by many (Latin, Cyrillic, Arabic, Devanagari, Han) narrows the statistical
detector's choice to the languages written in it. The tables cover every label of fastText's
lid.176, the detector the app uses, so a language it can report is never excluded by script.
"""

from __future__ import annotations

import bisect
import threading
import unicodedata
from collections import Counter
from functools import cache

import numpy as np

# (first code point, last code point, script), sorted, non-overlapping.
_RANGES: tuple[tuple[int, int, str], ...] = (
    (0x0041, 0x024F, "Latin"),
    (0x0370, 0x03FF, "Greek"),
    (0x0400, 0x052F, "Cyrillic"),
    (0x0530, 0x058F, "Armenian"),
    (0x0590, 0x05FF, "Hebrew"),
    (0x0600, 0x06FF, "Arabic"),
    (0x0750, 0x077F, "Arabic"),
    (0x0780, 0x07BF, "Thaana"),
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
    "Thaana": "dv",
    "Ethiopic": "am",
}

# Of these, some write a second, rarer language too: with enough text to tell (as much as a shared
# script needs), statistics decide between them; below that the script's main language stands.
MINOR_LANGUAGES: dict[str, frozenset[str]] = {"Hebrew": frozenset({"yi"}), "Georgian": frozenset({"xmf"})}

# The languages of fastText's lid.176 written in each shared script (codes as search/text/fasttext_lid.py
# reports them). Latin is every label not listed here, plus the few written in both (sr, uz, ku).
SHARED_SCRIPTS: dict[str, frozenset[str]] = {
    "Han": frozenset({"zh", "ja"}),
    "Cyrillic": frozenset(
        [
            "av",
            "ba",
            "be",
            "bg",
            "bxr",
            "ce",
            "cv",
            "kk",
            "krc",
            "kv",
            "ky",
            "lez",
            "mhr",
            "mk",
            "mn",
            "mrj",
            "myv",
            "os",
            "ru",
            "rue",
            "sah",
            "sr",
            "tg",
            "tt",
            "tyv",
            "uk",
            "uz",
            "xal",
        ]
    ),
    "Arabic": frozenset(["ar", "arz", "azb", "ckb", "fa", "ku", "lrc", "mzn", "pnb", "ps", "sd", "ug", "ur"]),
    "Devanagari": frozenset(["bh", "dty", "gom", "hi", "mai", "mr", "ne", "new", "sa"]),
    "Bengali": frozenset({"as", "bn", "bpy"}),
}
_ALSO_LATIN = frozenset({"sr", "uz", "ku"})
_NOT_LATIN = (
    frozenset().union(*SHARED_SCRIPTS.values(), *MINOR_LANGUAGES.values())
    | frozenset(UNAMBIGUOUS_SCRIPTS.values())
) - _ALSO_LATIN

# How much text one letter is, relative to a Latin letter: an English sentence has 2.8 times as
# many letters as its Chinese translation, 1.9 times its Japanese and 2.1 times its Korean one
# (Tatoeba's cmn/jpn/kor-eng pairs). Weighing by it lets a Japanese sentence outvote the
# command names and paths quoted in it, instead of being outnumbered by their letters.
LETTER_WEIGHTS: dict[str, float] = {"Han": 3.0, "Kana": 1.5, "Hangul": 2.0}


def languages_of(script: str) -> frozenset[str] | None:
    """Codes written in ``script`` (None for Latin, which is every other code: see ``latin_allowed``)."""
    if script in SHARED_SCRIPTS:
        return SHARED_SCRIPTS[script]
    if script in UNAMBIGUOUS_SCRIPTS:
        return frozenset({UNAMBIGUOUS_SCRIPTS[script]}) | MINOR_LANGUAGES.get(script, frozenset())
    return None


def written_in(code: str, script: str) -> bool:
    """Whether language ``code`` is written in ``script`` (Latin: any code not tied to another script)."""
    if script == "Latin":
        return code not in _NOT_LATIN
    allowed = languages_of(script)
    return allowed is None or code in allowed


# Code points below this are looked up in a table built once: one numpy lookup and bincount per
# text instead of a Python loop per character (0.2-0.4 ms on a 600-character chunk, more than
# fastText itself). Text with a code point beyond it (rare Han extensions, emoji) takes the loop.
_TABLE_LIMIT = 0x31350
SCRIPT_NAMES = (*sorted({r[2] for r in _RANGES} | {"Other"}), "")  # "" = not a letter or mark
NOT_A_LETTER = len(SCRIPT_NAMES) - 1
_TABLE_LOCK = threading.Lock()


def script_counts(text: str) -> Counter[str]:
    """Letters per script (marks count with their script, so Devanagari vowel signs count)."""
    counts: Counter[str] = Counter()
    if not text:
        return counts
    scripts = script_indices(text)
    # Insertion in order of first appearance, as a loop would: Counter.most_common breaks ties by it.
    present, first = np.unique(scripts, return_index=True)
    tally = np.bincount(scripts, minlength=len(SCRIPT_NAMES))
    for index in present[np.argsort(first)]:
        name = SCRIPT_NAMES[index]
        if name:
            counts[name] = int(tally[index])
    return counts


def script_indices(text: str) -> np.ndarray:
    """Per character, the index of its script in SCRIPT_NAMES (NOT_A_LETTER for the rest)."""
    if not text:
        return np.zeros(0, dtype=np.uint8)
    if not text.isascii() and ord(max(text)) >= _TABLE_LIMIT:
        index = {name: i for i, name in enumerate(SCRIPT_NAMES)}
        return np.array([index[_script_of(ch) or ""] for ch in text], dtype=np.uint8)
    codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    return _script_table()[codes]


def _script_table() -> np.ndarray:
    with _TABLE_LOCK:
        return _build_script_table()


@cache
def _build_script_table() -> np.ndarray:
    """Code point -> index of its script in SCRIPT_NAMES (the last, "", for non-letters)."""
    index = {name: i for i, name in enumerate(SCRIPT_NAMES)}
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


def letter_weights() -> np.ndarray:
    """Per script index, how much a letter of it counts (LETTER_WEIGHTS; 0 for non-letters)."""
    weights = np.ones(len(SCRIPT_NAMES), dtype=np.float64)
    for name, weight in LETTER_WEIGHTS.items():
        weights[SCRIPT_NAMES.index(name)] = weight
    weights[NOT_A_LETTER] = 0.0
    return weights
