"""Cross-lingual feedback: the best hits pull up the passages that say the same thing in other languages.

Why: once the language component is taken out of the vectors (search.models.language_bias),
the first hit is usually right (any translation of the right passage at rank 1: 0.89 on
XQuAD's six-language pool) but its translations are still spread over the top 50: a
query embeds far from documents in other scripts, while two passages that say the same
thing embed close together whatever their languages. So the first stage's best hits
vote: each candidate gains ``weight`` times its similarity to a softmax-weighted mean
of the ``top`` best candidates (pseudo-relevance feedback on dense vectors, Rocchio
style). The temperature keeps the vote on the leader unless the next ones are near ties,
which protects queries whose first hit is wrong.

Measured on cached vectors with exact search (XQuAD, bundled multilingual-e5-small,
after the language correction; benchmarks/language_bias.py measures it through the app):

| feedback | pool nDCG@10 (6 languages) | same-language nDCG@10 | sample set nDCG@10 |
|---|---|---|---|
| none | 77.6 | 94.73 | 86.0 |
| top 1, weight 0.3 | 86.0 | 94.36 | 87.6 |
| top 5, weight 0.4, temperature 0.01 (default) | 86.6 | 94.56 | 88.0 |

Without the language correction the same feedback hurt the sample set (75.4 -> 72.3):
it is applied only to collections written with the correction.

How it runs (``prf-query-v2``): the query's ``top`` best passages in the *whole*
collection vote (one store query without the user's filter), the query vector moves
toward their centroid (q + weight * centroid, re-normalised: Rocchio's query update),
and that one vector is searched, with the filter. So every passage's score is its
cosine with one vector that depends on the query and the collection only: a filter, the
mode's depth or k narrow the list, they never rescale a score (issue 22: the vote used
to re-score the *filtered* candidates, and a German passage fell from 0.708 to 0.314 when
filtered to German). The score of a passage still depends on the collection: on which of
its passages are the query's five best, and on whether it holds more than one language
(``votes``). Adding documents changes a score only when they become one of those five,
or make a one-language collection multilingual; scores are comparable within a collection,
not across collections (the relevance cue is measured per collection for that reason).
Collections that recorded ``softmax-prf-v1`` (re-scoring the 100 filtered candidates)
are searched this way with their recorded weights: their stored vectors are the same.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from search.core.types import UNDETERMINED
from search.stores.base import ScoredPoint

METHOD = "prf-query-v2"
LEGACY_METHOD = "softmax-prf-v1"  # recorded by collections of earlier versions; run as METHOD (same weights)


@dataclass(frozen=True)
class Feedback:
    weight: float = 0.4  # how much the voters' centroid counts against the query itself
    top: int = 5  # best passages of the whole collection that vote
    temperature: float = 0.01  # softmax over their scores: small = the leader alone unless near ties
    method: str = METHOD  # LEGACY_METHOD for collections that recorded it (the name must round-trip)
    candidates: int = 100  # recorded by LEGACY_METHOD names only; the query update needs no depth

    @property
    def name(self) -> str:
        """Recorded per collection, so a collection keeps the settings it was tuned and measured with."""
        params = f"w={self.weight:g},top={self.top},t={self.temperature:g}"
        if self.method == LEGACY_METHOD:
            return f"{LEGACY_METHOD}:{params},n={self.candidates}"
        return f"{self.method}:{params}"

    @classmethod
    def parse(cls, name: str) -> Feedback:
        """The inverse of ``name``; raises ValueError for a name this version does not know."""
        method, _, params = name.partition(":")
        if method not in (METHOD, LEGACY_METHOD):
            raise ValueError(f"unknown feedback method {method!r}")
        values = dict(part.split("=", 1) for part in params.split(","))
        return cls(
            weight=float(values["w"]),
            top=int(values["top"]),
            temperature=float(values["t"]),
            method=method,
            candidates=int(values.get("n", 100)),
        )

    def query(self, query: np.ndarray, voters: Sequence[ScoredPoint]) -> np.ndarray:
        """The query moved toward the softmax-weighted mean of its best passages, at unit length.

        ``voters``: the query's best passages in the whole collection, with their vectors
        (unfiltered: the filter must not change who votes). Without voters (an empty
        collection) the query is returned as it is.
        """
        usable = [p for p in voters if p.vector is not None][: self.top]
        vector = np.asarray(query, dtype=np.float32).reshape(-1)
        if not usable:
            return vector
        scores = np.array([p.score for p in usable], dtype=np.float64)
        vectors = np.stack([np.asarray(p.vector, dtype=np.float32) for p in usable])
        order = np.argsort(-scores, kind="stable")
        weights = np.exp((scores[order] - scores[order[0]]) / self.temperature)
        centroid = (weights[:, None] * vectors[order]).sum(0) / weights.sum()
        moved = vector + self.weight * centroid.astype(np.float32)
        norm = float(np.linalg.norm(moved))
        return (moved / norm).astype(np.float32) if norm > 0 else vector


def votes(languages: Mapping[str, int]) -> bool:
    """Whether the vote runs in a collection with these chunk counts per language.

    Only where passages in more than one language can answer (text without a language,
    ``und``: code, numbers, does not count): within one language the vote only blurs the
    ranking (same-language XQuAD, 12 languages: 95.20 raw, 94.61 with the vote on every query).
    A property of the collection, not of a query's candidates: a filter never turns it off.
    """
    return sum(1 for lang, count in languages.items() if count and lang != UNDETERMINED) > 1


DEFAULT_FEEDBACK = Feedback()
