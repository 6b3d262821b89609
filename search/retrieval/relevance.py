"""A relevance cue a person can read: "strong match", "weak match" or "no clear match".

Raw scores do not say it. Dense cosines of one model crowd into a narrow band
(multilingual-e5 gives unrelated text 0.7-0.8 and nonsense such as "🙂🙂🙂" the
same 0.8 as a real answer), BM25 has no upper bound, and RRF only encodes ranks.
So a dense hit is judged against the collection's own noise floor: the best
scores that queries about nothing (emoji, letter runs, keyboard rows, digits) reach
in it, searched exactly as a real query is (the language correction and feedback
included). ``margin`` is how far above that floor a hit lies, in units of the floor's
spread; the thresholds are on the margin, so that collections and models whose
scores sit at different heights share them (measured so far for the default model only).
Sparse (BM25), hybrid (RRF) and reranked hits are not on a closeness scale: the app judges
them by their score in a dense search of the same query (SearchApp._cues).

Measured with ``benchmarks/relevance_cue.py`` on the sample collection (48 files,
207 passages, multilingual-e5-small, language correction and feedback on), the
122 queries of the sample query set, top 10 each, dense, relevance from the qrels
(the hit's file graded >= 1; 808 relevant and 412 irrelevant hits, so 66 % of all
top-10 hits are relevant):

* noise floor mean 0.451, spread 0.094; ROC AUC of the margin 0.744 (the same as the
  raw score within one collection: the margin only moves the scale between collections);
* "strong" (margin >= 0): 197 hits, 92 % relevant, 22 % of all relevant hits;
  the top hit is "strong" for 105 of 122 queries;
* "weak" (-1.5 <= margin < 0): 436 hits, 77 % relevant, 42 % of the relevant hits;
* "no clear match": 587 hits, 50 % relevant (the cue is a hint, not a verdict: in a
  corpus of 13 topics, much of a query's top 10 is still on its topic);
* nonsense held out from the probes ("a" * 3000, "🙂🙂🙂🙂🙂", "asdf jkl", "xyzzy plugh",
  "ыыы", "嗯嗯嗯", ...): 8 of 8 "no clear match". Their scores alone would not say it
  (margins up to 1.6, above most relevant hits: feedback piles onto one passage), so a
  query whose vector has cosine >= 0.875 with the probes' centroid reads as nonsense;
  real queries lie at 0.832 (median), 0.888 at most; 3 of 122 are caught by it.

The same run in the other modes (cue from each hit's dense score):

| mode | relevant / irrelevant hits | strong | weak | no clear match |
|---|---|---|---|---|
| dense | 808 / 412 | 197 hits, 92 % relevant | 436, 77 % | 587, 50 % |
| hybrid | 587 / 633 | 196, 92 % | 346, 75 % | 678, 22 % |
| sparse | 141 / 1063 | 64, 86 % | 70, 74 % | 1070, 3 % |

Nonsense is "no clear match" (or has no result at all) in every mode.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from search.stores.common import RRF_K

Cue = Literal["strong", "weak", "none"]

# Queries about nothing, in several scripts; their best scores in a collection are its noise floor.
PROBES: tuple[str, ...] = (
    "🙂🙂🙂",
    "a " * 40,
    "qwertyuiop asdfghjkl",
    "xq zv kwp trb",
    "1234 5678 9012",
    "??? !!! ...",
    "zzzz zzzz zzzz",
    "ккк ббб ддд",
    "的的的 了了了",
    "ああああ",
    "ـــ ـــ",
    "lorem ipsum dolor sit amet",
)
MIN_SPREAD = 0.01  # below this the probes agree too well to measure a spread: one hundredth of a cosine

# Margins (in floor spreads above the floor's mean) from the calibration run; see the module docstring.
STRONG_MARGIN = 0.0
WEAK_MARGIN = -1.5
NONSENSE_LIKENESS = 0.875  # cosine of a query to the probes' centroid above which it reads as nonsense

LABELS: dict[Cue, str] = {"strong": "strong match", "weak": "weak match", "none": "no clear match"}

# What a score means in each mode (result cards show it); a second stage's score is its own.
SCORE_HELP: dict[str, str] = {
    "dense": "cosine similarity of the query's and the passage's embeddings, after the collection's "
    "language correction; higher is closer in meaning, comparable within one search",
    "sparse": "BM25 over the model's subword tokens; grows with shared rare words, has no upper bound, "
    "comparable within one search only",
    "hybrid": f"reciprocal-rank fusion of the dense and sparse lists (sums of 1/({RRF_K} + rank), ranks "
    "counted from 0); it encodes ranks, not closeness",
}
RERANK_SCORE_HELP = "the second stage's relevance score; comparable within one search"


@dataclass(frozen=True)
class NoiseFloor:
    """The best dense scores meaningless queries reach in one collection, and where such queries lie.

    ``centroid``: the mean of the probes' query vectors (unit length). A query whose own vector
    is this close to it is about nothing the model can read, whatever its hits score.
    """

    mean: float
    spread: float
    centroid: np.ndarray | None = field(default=None, compare=False, repr=False)

    @classmethod
    def measure(cls, scores: Sequence[float], probe_vectors: np.ndarray | None = None) -> NoiseFloor:
        if not scores:
            return cls(0.0, 1.0)
        spread = statistics.pstdev(scores) if len(scores) > 1 else 0.0
        centroid = None
        if probe_vectors is not None and len(probe_vectors):
            mean = np.asarray(probe_vectors, dtype=np.float32).mean(axis=0)
            centroid = mean / max(float(np.linalg.norm(mean)), 1e-12)
        return cls(statistics.fmean(scores), max(spread, MIN_SPREAD), centroid)

    def margin(self, score: float) -> float:
        return (score - self.mean) / self.spread

    def likeness(self, query_vector: np.ndarray | None) -> float:
        """Cosine between a query and the meaningless probes (0 when unknown)."""
        if self.centroid is None or query_vector is None:
            return 0.0
        vector = np.asarray(query_vector, dtype=np.float32)
        return float(vector @ self.centroid / max(float(np.linalg.norm(vector)), 1e-12))

    def cue(self, score: float, likeness: float = 0.0) -> Cue:
        if likeness >= NONSENSE_LIKENESS:
            return "none"
        margin = self.margin(score)
        if margin >= STRONG_MARGIN:
            return "strong"
        return "weak" if margin >= WEAK_MARGIN else "none"
