"""A relevance cue a person can read: "strong match", "weak match" or "no clear match".

Raw scores do not say it. Dense cosines of one model crowd into a narrow band
(multilingual-e5 gives unrelated text 0.7-0.8 and nonsense such as "🙂🙂🙂" the
same 0.8 as a real answer), BM25 has no upper bound, and RRF only encodes ranks.
So a dense hit is judged against the collection's own noise floor: the best
scores that queries about nothing (emoji, letter runs, keyboard rows, digits) reach
in it, searched exactly as a real query is (the language correction and feedback
included). ``margin`` is how far above that floor a hit lies, in units of the floor's
spread; the thresholds are on the margin, so that collections of different sizes, whose
best scores for nothing sit at different heights, share them. Sparse (BM25), hybrid (RRF)
and reranked hits are not on a closeness scale: the app judges them by their score in an
unfiltered dense search of the same query (search.application.cues.RelevanceCues.margins), so a filter changes no cue.

The thresholds on the margin are calibrated per model, mode and vectors (the correction and
the vote) by ``benchmarks/cue_calibration.py`` on sets the cue is not reported on, and kept in
``cue_thresholds.json`` (search.retrieval.cue_calibration); where there are none the app shows
no cue and says why. The figures, and which sets they come from, are in the README (Relevance cue).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from search.retrieval.cue_calibration import CueThresholds
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

# Cosine of a query to the probes' centroid above which it reads as nonsense (e5-small on the sample set,
# issue 18; the calibration keeps it per model unless real queries of its sets reach it).
NONSENSE_LIKENESS = 0.875

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

    def cue(self, score: float, likeness: float, thresholds: CueThresholds) -> Cue:
        return cue_for(self.margin(score), likeness, thresholds)


def cue_for(margin: float | None, likeness: float, thresholds: CueThresholds) -> Cue:
    """The cue of a hit ``margin`` floor spreads above the noise floor (None: not close enough to measure)."""
    if margin is None or likeness >= thresholds.nonsense:
        return "none"
    if margin >= thresholds.strong:
        return "strong"
    return "weak" if margin >= thresholds.weak else "none"
