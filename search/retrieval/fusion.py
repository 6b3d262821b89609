"""Hybrid fusion in the app, with ranks and statistics from the unfiltered lists.

Why: Qdrant fuses the dense and the sparse candidate lists after filtering them, so a
passage's fused score (RRF: its rank in each list; DBSF: its score against each list's
spread) changes with the filter: a filter to one language moves every passage of that
language up the lists and raises its score. Here each list is searched twice when a
filter is set, without it (who ranks where, the list's statistics) and with it (which
passages can be shown): a passage's rank is the number of unfiltered passages scoring
above it, so its fused score is the one the unfiltered search gives it. A passage beyond
a list's depth in the unfiltered search contributes nothing from that list, as in Qdrant;
a passage beyond both (only a narrow filter can reach one) scores 0. Without a filter
this is Qdrant's own fusion (same formula, same ranks), computed here.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from search.stores.base import FusionMethod, ScoredPoint
from search.stores.common import RRF_K


def rrf_term(rank: int, weight: float) -> float:
    """Qdrant's weighted RRF for a 0-based rank: 1 / (k - 1 + (rank + 1) / weight), k = RRF_K."""
    return 1.0 / (RRF_K - 1 + (rank + 1) / weight)


def _rank(score: float, unfiltered: Sequence[ScoredPoint]) -> int:
    return sum(1 for point in unfiltered if point.score > score)


def _dbsf(score: float, unfiltered: Sequence[ScoredPoint]) -> float:
    """Qdrant's distribution-based normalisation: (score - (mean - 3 sd)) / (6 sd), clipped to [0, 1]."""
    values = [p.score for p in unfiltered]
    mean = statistics.fmean(values)
    sd = statistics.pstdev(values) if len(values) > 1 else 0.0
    if sd == 0:
        return 0.5
    return min(1.0, max(0.0, (score - (mean - 3 * sd)) / (6 * sd)))


def fuse(
    lists: Sequence[Sequence[ScoredPoint]],
    unfiltered: Sequence[Sequence[ScoredPoint]],
    weights: Sequence[float],
    depth: int,
    method: FusionMethod = "rrf",
) -> list[ScoredPoint]:
    """Candidates of ``lists`` (filtered, or the unfiltered lists themselves) fused, best first.

    ``unfiltered[i]`` is list i searched without the filter, ``depth`` deep; ``weights[i]``
    its weight (RRF only: Qdrant has none for DBSF). Ties keep the first list's order.
    """
    fused: dict[str, float] = {}
    first: dict[str, ScoredPoint] = {}
    for candidates, reference, weight in zip(lists, unfiltered, weights):
        full = len(reference) >= depth
        for point in candidates:
            first.setdefault(point.id, point)
            rank = _rank(point.score, reference)
            if full and rank >= depth:
                term = 0.0  # beyond the unfiltered list: not one of its candidates
            elif method == "dbsf":
                term = _dbsf(point.score, reference)
            else:
                term = rrf_term(rank, weight)
            fused[point.id] = fused.get(point.id, 0.0) + term
    order = {pid: i for i, pid in enumerate(first)}
    ranked = sorted(fused, key=lambda pid: (-fused[pid], order[pid]))
    return [ScoredPoint(id=pid, score=fused[pid], payload=first[pid].payload) for pid in ranked]
