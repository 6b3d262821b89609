"""The relevance cue: strong / weak / no clear match per hit, and the noise floor it is measured from.

Why its own module: the cue reads a hit's dense score against what meaningless queries reach in the
same collection (its noise floor, measured once per collection size and kept on disk) with thresholds
calibrated per model, mode and vectors (search.retrieval.cue_calibration). The facade asks it once per
search; it needs the collection's searcher (for the floor and, outside plain dense search, for the
hits' dense scores), which the facade passes in.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from search.application.catalog import Catalog
from search.application.noise_floors import floor_key, read_floor, write_floor
from search.retrieval.cue_calibration import Calibration, CueThresholds, calibration_key
from search.retrieval.relevance import PROBES, Cue, NoiseFloor, cue_for
from search.retrieval.searcher import MAX_K, Searcher, SearchResult

CUE_DEPTH = 50  # dense hits looked up to judge sparse, hybrid and reranked hits on the closeness scale


class RelevanceCues:
    """The cue of a collection's hits, with the thresholds of ``calibration`` and floors kept in ``data_dir``."""

    def __init__(
        self, catalog: Catalog, data_dir: Path, calibration: Calibration, searcher: Callable[[str], Searcher]
    ) -> None:
        self.catalog = catalog
        self.calibration = calibration
        self._data_dir = data_dir
        self._searcher = searcher
        self._floors: dict[tuple[str, str], NoiseFloor] = {}
        self._lock = threading.Lock()

    def noise_floor(self, collection: str) -> NoiseFloor:
        """The best dense scores meaningless queries reach in ``collection`` (measured once per size)."""
        info = self.catalog.require(collection)
        key = floor_key(info.meta, info.chunks)
        with self._lock:
            floor = self._floors.get((collection, key))
        if floor is None:
            floor = read_floor(self._data_dir, collection, key)
        if floor is None:
            searcher = self._searcher(collection)
            vectors = searcher.embedder.encode_queries(list(PROBES))
            results = searcher.search_batch(PROBES, k=1, mode="dense", vectors=vectors)
            floor = NoiseFloor.measure([r.hits[0].score for r in results if r.hits], vectors)
            write_floor(self._data_dir, collection, key, floor)
        with self._lock:
            self._floors[(collection, key)] = floor
        return floor

    def thresholds(self, result: SearchResult) -> CueThresholds | str:
        """The calibrated thresholds for this result's model, mode and vectors, or why there are none."""
        meta = self.catalog.require(result.collection).meta  # confirmed by this search: no store call
        mode = "rerank" if result.reranker else result.mode
        return self.calibration.lookup(calibration_key(meta.model, mode, meta.correction, meta.feedback))

    def of(self, result: SearchResult) -> tuple[tuple[Cue | None, ...], str | None]:
        """Strong / weak / no clear match per hit with the thresholds calibrated for the result's model,
        mode and vectors; none, and why, where there are none.

        The cue reads a hit's closeness in meaning (its dense score); sparse, hybrid and second-stage
        orders also weigh other things, so a hit may rank above a closer one. A cue stronger than one
        ranked above it would contradict the order on the screen ("weak" rank 1 above "strong" rank 2):
        such a hit shows no cue, and the note says why.
        """
        if not result.hits:
            return (), None
        thresholds = self.thresholds(result)
        if isinstance(thresholds, str):
            return (), thresholds
        margins, likeness = self.margins(result)
        cues = tuple(cue_for(margin, likeness, thresholds) for margin in margins)
        if result.mode == "dense" and not result.reranker:
            return cues, None  # ranked by the very score the cue reads: monotone by construction
        shown = monotone_cues(cues)
        if shown == cues:
            return cues, None
        order = "the second stage's" if result.reranker else f"{result.mode} mode's"
        return shown, (
            f"Some passages carry no relevance cue: the cue reads closeness in meaning alone, and {order} "
            "order put them below a passage with a weaker cue. Dense mode ranks by that closeness and "
            "shows a cue on every passage."
        )

    def margins(self, result: SearchResult) -> tuple[tuple[float | None, ...], float]:
        """Each hit's margin above the collection's noise floor on the dense (closeness) scale, and the
        query's likeness to the meaningless probes: what the cue reads (and its calibration measures).

        Sparse (BM25), hybrid (RRF) and second-stage scores are on other scales: their hits are
        judged by their dense score in an unfiltered dense search of the same query (one more store
        query, and a query embedding when the search had none: sparse); a hit beyond that search's
        depth is not close in meaning (None). Unfiltered, so that a filter changes no cue.
        """
        floor = self.noise_floor(result.collection)
        if result.mode == "dense" and not result.reranker:
            return tuple(floor.margin(hit.score) for hit in result.hits), floor.likeness(result.query_vector)
        (dense,) = self._searcher(result.collection).search_batch(
            [result.query],
            k=min(max(CUE_DEPTH, len(result.hits)), MAX_K),
            mode="dense",
            vectors=None if result.query_vector is None else result.query_vector[None],
        )
        scores = {hit.chunk_id: hit.score for hit in dense.hits}
        margins = tuple(
            floor.margin(scores[hit.chunk_id]) if hit.chunk_id in scores else None for hit in result.hits
        )
        return margins, floor.likeness(dense.query_vector)


CUE_STRENGTH: dict[str, int] = {"none": 0, "weak": 1, "strong": 2}


def monotone_cues(cues: Sequence[Cue]) -> tuple[Cue | None, ...]:
    """The cues in rank order with each one stronger than a cue shown above it replaced by None."""
    shown: list[Cue | None] = []
    weakest = max(CUE_STRENGTH.values())
    for cue in cues:
        strength = CUE_STRENGTH[cue]
        if strength > weakest:
            shown.append(None)
            continue
        weakest = strength
        shown.append(cue)
    return tuple(shown)
