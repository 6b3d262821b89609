"""What both Qdrant backends share and neither API dictates.

Collection names, the meta JSON format, model-compatibility messages and batching.
The backend-neutral form of filters lives with the payload codec (search.stores.payload).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from search.core.errors import (
    CollectionNotFoundError,
    InvalidCollectionNameError,
    ModelMismatchError,
    StoreError,
)
from search.stores.base import CollectionMeta, Point, ScoredPoint

T = TypeVar("T")

# Qdrant's own default for reciprocal rank fusion; the edge API needs it spelled out,
# and the server's FusionQuery uses it implicitly, so both backends rank alike.
RRF_K = 2
# Index settings of both stores, from benchmarks/ann_recall.py (see search.stores.edge.EdgeTuning).
# No graph (m=0): a graph walk lost whole languages (m=16: 0.749 recall@10 on a real 52k-chunk
# collection; m=32, ef=512: 0.58 on a clustered 100k one), while a scan of int8-quantized vectors
# rescored with the originals keeps the exact top 10 and costs less than the float scan.
HNSW_M = 0
GRAPH_M = 32  # a Qdrant server's collections without quantization keep a graph (m=32, ef=512: 0.992 at 52k)
HNSW_EF_CONSTRUCT = 200  # used only when a graph is asked for (m > 0)
HNSW_EF = 512  # search-time beam width of a graph
# Candidates the int8 scan keeps per result, rescored with the original vectors: chosen on the
# synthetic clustered collection (seed 0); reported on the real one and on another seed.
OVERSAMPLING = 2.0
SCROLL_PAGE = 1000
_NOT_COMPARED = ("extra", "model_source", "language_means")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")


def validate_collection_name(name: str) -> str:
    """Refuse anything that could escape the collections folder or differ between backends."""
    if not isinstance(name, str) or not _NAME.fullmatch(name) or ".." in name:
        raise InvalidCollectionNameError(
            f"Invalid collection name {name!r}: use 1-63 letters, digits, '_', '-' or '.', "
            "starting with a letter or digit (e.g. 'docs' or 'papers-e5')."
        )
    return name


# ---- meta -----------------------------------------------------------------------------------------


def meta_conflict(existing: CollectionMeta, requested: CollectionMeta) -> str | None:
    """Why ``requested`` cannot reuse a collection built as ``existing``.

    ``extra`` is informational, ``model_source`` is where the same weights were loaded
    from (a moved folder is still the same model) and ``language_means`` is state that
    moves with the collection's chunks, so none of them counts.
    """
    mine, theirs = existing.to_json(), requested.to_json()
    for key in _NOT_COMPARED:
        mine.pop(key, None)
        theirs.pop(key, None)
    differing = sorted(key for key in mine.keys() | theirs.keys() if mine.get(key) != theirs.get(key))
    if not differing:
        return None
    details = ", ".join(f"{key}: {mine.get(key)!r} != {theirs.get(key)!r}" for key in differing)
    return details


def mismatch_error(name: str, existing: CollectionMeta, requested: CollectionMeta) -> ModelMismatchError:
    details = meta_conflict(existing, requested)
    return ModelMismatchError(
        f"Collection {name!r} already exists and was built with model {existing.model!r} "
        f"(dimension {existing.dimension}); this run asked for {requested.model!r} "
        f"(dimension {requested.dimension}) [{details}]. Index into another collection "
        f"(--collection NAME), re-run with --model {existing.model!r}, or drop {name!r} "
        "first to rebuild it with the new model."
    )


def not_found_error(name: str, known: Sequence[str]) -> CollectionNotFoundError:
    return CollectionNotFoundError(
        f"Collection {name!r} does not exist (collections: {', '.join(known) or 'none yet'}). "
        "Index a folder into it first, or pick one of the existing collections."
    )


def check_dimension(name: str, meta: CollectionMeta, points: Sequence[Point]) -> None:
    """Fail before the engine does, with a message that names the model; never write a NaN or an infinity
    (a damaged model or cache: such a point matches nothing, and the collection would answer nothing)."""
    for point in points:
        vector = np.asarray(point.vector)
        size = int(vector.shape[-1])
        if size != meta.dimension:
            raise ModelMismatchError(
                f"Collection {name!r} holds {meta.dimension}-d vectors from model {meta.model!r}, "
                f"but point {point.id} has a {size}-d vector. Embed with --model {meta.model!r} "
                "or index into a new collection (--collection NAME)."
            )
        if not np.isfinite(vector).all():
            raise StoreError(
                f"Refused to write a NaN or infinite vector into {name!r} (model {meta.model!r}): the model's "
                "files or the embedding cache are damaged. Nothing of that batch was written; run app.py "
                "doctor, or delete the model's cache folder to have it built again, then index again."
            )


def meta_from_text(text: str, origin: str) -> CollectionMeta:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise _unreadable(origin, exc) from exc
    return meta_from_json(data, origin)


def meta_from_json(data: Any, origin: str) -> CollectionMeta:
    try:
        return CollectionMeta.from_json(data)
    except (ValueError, TypeError, AttributeError) as exc:
        raise _unreadable(origin, exc) from exc


def _unreadable(origin: str, exc: Exception) -> StoreError:
    return StoreError(
        f"The collection description {origin} is unreadable ({exc}). Restore it from a backup "
        "or drop the collection and index it again."
    )


def write_json_atomic(path: Path, data: Mapping[str, Any]) -> None:
    """Write to a temporary file, fsync, rename: a crash leaves the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(dict(data), handle, ensure_ascii=False, indent=2, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


# ---- small helpers --------------------------------------------------------------------------------


def batched(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


R = TypeVar("R")


def search_in_parts(
    requests: Sequence[R | None], size: int, send: Callable[[list[R]], Sequence[list[ScoredPoint]]]
) -> list[list[ScoredPoint]]:
    """One result list per request, in order: the live requests go to ``send`` ``size`` at a time
    (one engine batch each); a None request (nothing to search) gets no hits."""
    results: list[list[ScoredPoint]] = [[] for _ in requests]
    live = [(row, request) for row, request in enumerate(requests) if request is not None]
    for part in batched(live, size):
        for (row, _), points in zip(part, send([request for _, request in part])):
            results[row] = points
    return results


def in_requested_order(ids: Sequence[str], found: Iterable[ScoredPoint]) -> list[ScoredPoint]:
    """Engines return retrieved points in storage order; callers expect theirs."""
    by_id = {point.id: point for point in found}
    return [by_id[i] for i in dict.fromkeys(ids) if i in by_id]
