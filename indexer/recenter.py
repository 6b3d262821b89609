"""Keep a collection's language means fitted to its chunks: after each index run, refit and re-correct.

Why: the reference means (search/models/language_bias.py) come from 36 sentences per
language in 18 languages; a folder's own text differs in domain, and most languages have
no reference at all. A collection's mean for each language therefore moves from the
reference toward the mean of its own chunks as they accumulate (shrinkage by count), and
the stored vectors follow: each chunk records which mean it was corrected with (payload
``mean``), the model's unit vector is recovered exactly from the stored one and that
mean (language_bias.raw_vectors), and it is corrected again with the new one. Nothing
is embedded again and no embedding cache is needed.

Crash safety: the new means are recorded in the collection before any chunk refers to
them, and a chunk's vector and its ``mean`` change in one update; a run killed halfway
leaves chunks on old and new means, both recorded, and the next refit finishes the job.
A collection indexed again without changes is not touched at all (the pipeline calls
this only when chunks were written or removed), and if it were, its means would come
out the same and no vector would be rewritten.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from search.core.types import UNDETERMINED
from search.models.language_bias import FittedMeans, LanguageCentering, raw_vectors
from search.stores.base import SearchFilter, VectorStore
from search.stores.payload import Field

_BATCH = 1024  # vectors reconstructed per numpy call


@dataclass(frozen=True)
class RecenterReport:
    languages: int  # languages in the collection
    moved: tuple[str, ...]  # languages whose chunks were re-corrected (their mean moved)
    rewritten: int  # chunk vectors re-corrected


def recenter(store: VectorStore, collection: str, correction: LanguageCentering) -> RecenterReport:
    """Refit the collection's language means from its chunks; re-correct the chunks of languages that moved."""
    meta = store.get_meta(collection)
    if meta is None or not correction.fitted:
        return RecenterReport(0, (), 0)
    means = FittedMeans.from_json(meta.language_means)
    sums: dict[str, np.ndarray] = {}
    counts: dict[str, int] = defaultdict(int)
    carried: dict[str, set[str]] = defaultdict(set)  # language -> the mean ids its chunks carry
    for languages, mean_ids, _, raw in _raw_batches(store, collection, correction, means, None):
        for language, mean, vector in zip(languages, mean_ids, raw):
            if language in sums:
                sums[language] += vector
            else:
                sums[language] = vector.copy()
            counts[language] += 1
            carried[language].add(mean)
    refit = correction.refit(means, sums, counts)
    # Chunks on any other mean than their language's current one (it moved now, or a run was
    # killed while re-correcting) are re-corrected.
    todo = sorted(lang for lang, ids in carried.items() if ids != {refit.means.current[lang]})
    if not todo and refit.means.current == means.current:
        return RecenterReport(len(counts), (), 0)
    # The new means are recorded before any chunk refers to them.
    keep = set().union(*carried.values()) | set(refit.means.current.values())
    store.update_meta(collection, replace(meta, language_means=_pruned(refit.means, keep).to_json()))
    rewritten = 0
    for language in todo:
        target = refit.means.current[language]
        vector = correction.mean_of(target, refit.means)
        flt = SearchFilter(languages=(language,))
        for languages, mean_ids, ids, raw in _raw_batches(store, collection, correction, refit.means, flt):
            stale = [i for i, mean in enumerate(mean_ids) if mean != target and languages[i] == language]
            if not stale:
                continue
            corrected = raw[stale] - vector[None, :].astype(np.float64)
            corrected /= np.maximum(np.linalg.norm(corrected, axis=1, keepdims=True), 1e-12)
            store.update_vectors(
                collection, [ids[i] for i in stale], corrected.astype(np.float32), {Field.MEAN.value: target}
            )
            rewritten += len(stale)
    store.update_meta(
        collection,
        replace(meta, language_means=_pruned(refit.means, set(refit.means.current.values())).to_json()),
    )
    return RecenterReport(len(counts), tuple(todo), rewritten)


def _raw_batches(
    store: VectorStore,
    collection: str,
    correction: LanguageCentering,
    means: FittedMeans,
    flt: SearchFilter | None,
) -> Iterator[tuple[list[str], list[str], list[str], np.ndarray]]:
    """(languages, mean ids, point ids, raw model vectors) of the collection's chunks, in batches."""
    fields = (Field.LANGUAGE.value, Field.MEAN.value)
    batch: list[tuple[str, dict[str, Any], np.ndarray]] = []
    for item in store.iter_vectors(collection, fields, flt):
        batch.append(item)
        if len(batch) >= _BATCH:
            yield _reconstruct(batch, correction, means)
            batch = []
    if batch:
        yield _reconstruct(batch, correction, means)


def _reconstruct(
    batch: Sequence[tuple[str, dict[str, Any], np.ndarray]], correction: LanguageCentering, means: FittedMeans
) -> tuple[list[str], list[str], list[str], np.ndarray]:
    ids = [point_id for point_id, _, _ in batch]
    languages = [str(payload.get(Field.LANGUAGE.value) or UNDETERMINED) for _, payload, _ in batch]
    mean_ids = [
        str(payload.get(Field.MEAN.value) or correction.current_id(language, None))
        for (_, payload, _), language in zip(batch, languages)
    ]
    cache: dict[str, np.ndarray] = {}
    rows = []
    for mean in mean_ids:
        if mean not in cache:
            cache[mean] = correction.mean_of(mean, means)
        rows.append(cache[mean])
    raw = raw_vectors(np.stack([vector for _, _, vector in batch]), np.stack(rows))
    return languages, mean_ids, ids, raw


def _pruned(means: FittedMeans, keep: set[str]) -> FittedMeans:
    return replace(means, vectors={key: v for key, v in means.vectors.items() if key in keep})
