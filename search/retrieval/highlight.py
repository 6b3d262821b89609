"""Which sentence of a hit answers the query: the one shown highlighted in the result card.

Two scorers behind one small protocol:

* ``SemanticHighlighter`` (the default) embeds the hit's sentences with the
  collection's own model (document prompt) and takes the one closest to the
  query vector the searcher already computed. Most real queries are
  cross-lingual (94 of the sample set's 110 have no relevant document in their
  own language); a German query and a Chinese passage share no words, so only
  the model can tell which sentence matched. The cost is one batched encode of
  at most ``max_total`` sentences (the best hits'; the rest fall back to the
  lexical scorer), shown in the timings as ``highlight``.
* ``LexicalHighlighter`` scores by shared character n-grams (works for any
  script, CJK included, with no tokenizer): instant, but blind across languages.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from search.models.embedder import Embedder
from search.text.sentences import Span, sentence_spans

_UNSPACED = re.compile(
    "[\u0e00-\u0eff\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]"
)  # Thai, Lao, kana, CJK


@dataclass(frozen=True)
class Highlight:
    start: int
    end: int
    score: float


class Highlighter(Protocol):
    name: str

    def pick(
        self, query: str, query_vector: np.ndarray | None, texts: Sequence[str]
    ) -> list[Highlight | None]:
        """One highlight (or None) per text."""
        ...


def candidate_spans(text: str, max_sentences: int) -> list[Span]:
    """Sentences worth scoring; a text of one sentence has nothing to single out."""
    spans = [span for span in sentence_spans(text) if _has_letters(text[span[0] : span[1]])]
    return spans[:max_sentences] if len(spans) > 1 else []


def _has_letters(text: str) -> bool:
    return any(unicodedata.category(ch)[0] in "LN" for ch in text)


class SemanticHighlighter:
    """Model-picked sentences for the best hits, within a sentence budget; later hits fall back to lexical.

    The budget bounds a search's extra cost whatever k is: about as much model work as
    embedding a handful of chunks, spent on the hits a reader looks at first.
    """

    name = "semantic"

    def __init__(
        self, embedder: Embedder, max_sentences: int = 10, max_total: int = 40, max_chars: int = 300
    ) -> None:
        self._embedder = embedder
        self._max_sentences = max_sentences  # per hit
        self._max_total = max_total  # per search
        self._max_chars = max_chars
        self._fallback = LexicalHighlighter()

    def pick(
        self, query: str, query_vector: np.ndarray | None, texts: Sequence[str]
    ) -> list[Highlight | None]:
        per_text: list[list[Span]] = []
        left = self._max_total
        for text in texts:
            spans = candidate_spans(text, self._max_sentences) if left > 0 else []
            spans = spans if len(spans) <= left else []  # a hit is scored whole or handed to the fallback
            left -= len(spans)
            per_text.append(spans)
        pieces = [text[a:b][: self._max_chars] for text, spans in zip(texts, per_text) for a, b in spans]
        lexical = self._fallback.pick(query, None, [t if not s else "" for t, s in zip(texts, per_text)])
        if not pieces:
            return lexical
        if query_vector is None:  # sparse-only searches embed no query
            query_vector = self._embedder.encode_queries([query])[0]
        scores = self._embedder.encode_documents(pieces) @ np.asarray(query_vector, dtype=np.float32)
        out: list[Highlight | None] = []
        offset = 0
        for spans, fallback in zip(per_text, lexical):
            if not spans:
                out.append(fallback)
                continue
            mine = scores[offset : offset + len(spans)]
            offset += len(spans)
            best = int(np.argmax(mine))
            out.append(Highlight(spans[best][0], spans[best][1], float(mine[best])))
        return out


class LexicalHighlighter:
    name = "lexical"

    def __init__(self, n: int = 3, max_sentences: int = 50) -> None:
        self._n = n
        self._max_sentences = max_sentences

    def pick(
        self, query: str, query_vector: np.ndarray | None, texts: Sequence[str]
    ) -> list[Highlight | None]:
        wanted = char_ngrams(query, self._n)
        out: list[Highlight | None] = []
        for text in texts:
            best: Highlight | None = None
            for a, b in candidate_spans(text, self._max_sentences):
                grams = char_ngrams(text[a:b], self._n)
                shared = len(wanted & grams)
                if shared and grams:
                    score = shared / math.sqrt(len(grams))
                    if best is None or score > best.score:
                        best = Highlight(a, b, score)
            out.append(best)
        return out


def char_ngrams(text: str, n: int) -> set[str]:
    """Character n-grams within words (bigrams for CJK-like runs without spaces)."""
    grams: set[str] = set()
    for word in unicodedata.normalize("NFKC", text).casefold().split():
        word = "".join(ch for ch in word if unicodedata.category(ch)[0] in "LN")
        size = min(n, 2) if _UNSPACED.search(word) else n
        if len(word) <= size:
            if word:
                grams.add(word)
            continue
        grams.update(word[i : i + size] for i in range(len(word) - size + 1))
    return grams
