"""A corrected collection searched as the model's raw vectors: the "raw" variant of Compare.

Why an exact scan: a collection written with the language correction stores each chunk
as (raw - mean) / |raw - mean|, so its raw vector is not in the store. Searching the
stored vectors with a raw query would score a raw query against corrected passages, a
mix neither pipeline is, and its scores would mean nothing. The model's unit vectors
come back exactly from the stored ones and the mean each chunk records
(``language_bias.raw_vectors``, as the indexer's refit does), without the text or the
model; the scan scores every chunk by its true cosine with the raw query, so a score on
the screen is the raw pipeline's score. The recovered matrix is built once per
collection state (its chunk count and recorded means) and kept in memory: 50k chunks of
a 384-d model take 73 MB; ``python -m benchmarks.raw_scan`` measured (load 17 on two shared
cores) 8.1 s for the first raw search of 50k chunks (reading and recovering them), then 51 ms
p50 a search against the store's 29 ms: a variant to compare with, not the default path.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np

from search.core.types import UNDETERMINED
from search.models.language_bias import FittedMeans, LanguageCentering, raw_vectors
from search.stores.base import CollectionMeta, ScoredPoint, SearchFilter, VectorStore
from search.stores.payload import Field

_FIELDS = (Field.LANGUAGE.value, Field.MEAN.value)


class RawScan:
    """Exact cosine search over a corrected collection's recovered raw vectors."""

    def __init__(self, store: VectorStore, collection: str, correction: LanguageCentering) -> None:
        self._store = store
        self._collection = collection
        self._correction = correction
        self._lock = threading.Lock()
        self._state: tuple[int, str | None] | None = None
        self._ids: list[str] = []
        self._matrix = np.zeros((0, 0), dtype=np.float32)

    def search_batch(
        self, queries: Sequence[np.ndarray], k: int, flt: SearchFilter | None, meta: CollectionMeta
    ) -> list[list[ScoredPoint]]:
        """The ``k`` chunks closest to each raw query (unit vectors), best first, with their payloads."""
        if flt is not None and not flt.is_empty():
            ids, matrix = self._recover(flt, meta)  # a filtered scan reads only the matching chunks
        else:
            ids, matrix = self._current(meta)
        if not ids:
            return [[] for _ in queries]
        scores = np.stack([np.asarray(q, dtype=np.float32) for q in queries]) @ matrix.T
        depth = min(k, len(ids))
        out = []
        for row in scores:
            top = np.argpartition(-row, depth - 1)[:depth]
            top = top[np.argsort(-row[top], kind="stable")]
            found = {p.id: p for p in self._store.retrieve(self._collection, [ids[i] for i in top])}
            out.append(
                [ScoredPoint(ids[i], float(row[i]), found[ids[i]].payload) for i in top if ids[i] in found]
            )
        return out

    def _current(self, meta: CollectionMeta) -> tuple[list[str], np.ndarray]:
        state = (self._store.count(self._collection), meta.language_means)
        with self._lock:
            if state != self._state:
                self._ids, self._matrix = self._recover(None, meta)
                self._state = state
            return self._ids, self._matrix

    def _recover(self, flt: SearchFilter | None, meta: CollectionMeta) -> tuple[list[str], np.ndarray]:
        means = FittedMeans.from_json(meta.language_means)
        ids: list[str] = []
        stored: list[np.ndarray] = []
        rows: list[np.ndarray] = []
        cache: dict[str, np.ndarray] = {}
        for point_id, payload, vector in self._store.iter_vectors(self._collection, _FIELDS, flt):
            language = str(payload.get(Field.LANGUAGE.value) or UNDETERMINED)
            mean = str(payload.get(Field.MEAN.value) or self._correction.current_id(language, None))
            if mean not in cache:
                cache[mean] = self._correction.mean_of(mean, means)
            ids.append(point_id)
            stored.append(np.asarray(vector, dtype=np.float32))
            rows.append(cache[mean])
        if not ids:
            return [], np.zeros((0, 0), dtype=np.float32)
        raw = raw_vectors(np.stack(stored), np.stack(rows))
        raw /= np.maximum(np.linalg.norm(raw, axis=1, keepdims=True), 1e-12)
        return ids, raw.astype(np.float32)
