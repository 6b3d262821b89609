"""VectorStore protocol and the values that cross it.

Two backends implement it (``search.stores.edge`` in-process, ``search.stores.client``
for a Qdrant server, cluster or ``:memory:``); one conformance suite tests both.
What a point's payload holds is ``search.stores.payload``'s business alone.
Every collection records which model built it, so a query embedded by another
model is refused instead of silently returning nonsense.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

from search.core.types import SparseVector
from search.models.specs import ModelSpec

DENSE = "dense"  # name of the dense vector in every collection
SPARSE = "sparse"  # name of the sparse (IDF-weighted) vector
SCHEMA_VERSION = 1
FusionMethod = Literal["rrf", "dbsf"]  # how a hybrid search merges the dense and sparse candidate lists
FUSION_METHODS: tuple[FusionMethod, ...] = ("rrf", "dbsf")


@dataclass(frozen=True, eq=False)
class Point:
    id: str
    vector: np.ndarray  # float32, L2-normalised
    payload: Mapping[str, Any]
    sparse: SparseVector | None = None


@dataclass(frozen=True)
class SearchFilter:
    """Restricts a search; empty tuples mean no restriction."""

    languages: tuple[str, ...] = ()  # chunk language, ISO 639-1
    sources: tuple[str, ...] = ()  # exact source paths
    roots: tuple[str, ...] = ()  # indexed folders

    def is_empty(self) -> bool:
        return not (self.languages or self.sources or self.roots)


@dataclass(frozen=True, eq=False)
class StoreQuery:
    """One query of a batch search: a dense vector, a sparse one, or both (hybrid).

    Which vectors it holds decides how it is searched: dense, sparse, or both (hybrid; see
    ``VectorStore.search_batch``).
    """

    dense: np.ndarray | None = None
    sparse: SparseVector | None = None
    with_vectors: bool = False  # return each dense-only hit's stored dense vector (query feedback)

    def __post_init__(self) -> None:
        if self.dense is None and self.sparse is None:
            raise ValueError("a StoreQuery needs a dense vector, a sparse vector or both")


@dataclass(frozen=True)
class ScoredPoint:
    id: str
    score: float
    payload: Mapping[str, Any]
    vector: np.ndarray | None = field(default=None, compare=False, repr=False)  # dense, when asked for


@dataclass(frozen=True)
class CollectionMeta:
    """What built a collection; saved with it and checked before every search and write."""

    model: str
    model_source: str
    revision: str | None
    dimension: int
    query_prompt: str
    document_prompt: str
    pooling: str
    normalize: bool
    sparse_encoder: str | None = None  # id of the sparse term encoder, when sparse vectors are stored
    # Retrieval settings the stored vectors were written for (search.models.language_bias,
    # search.space.feedback); None: raw model vectors (collections of earlier versions).
    correction: str | None = None
    feedback: str | None = None
    # The correction's state that moves as chunks come and go (search.models.language_bias.FittedMeans,
    # as JSON): written by the indexer, never part of what makes two metas compatible.
    language_means: str | None = None
    schema: int = SCHEMA_VERSION
    extra: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def for_model(cls, spec: ModelSpec, sparse_encoder: str | None = None) -> CollectionMeta:
        return cls(
            model=spec.name,
            model_source=spec.source,
            revision=spec.revision,
            dimension=spec.dimension,
            query_prompt=spec.query_prompt,
            document_prompt=spec.document_prompt,
            pooling=spec.pooling,
            normalize=spec.normalize,
            sparse_encoder=sparse_encoder,
        )

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["extra"] = dict(self.extra)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CollectionMeta:
        return cls(**{**data, "extra": dict(data.get("extra") or {})})


@runtime_checkable
class VectorStore(Protocol):
    """Chunks as points with a dense vector, an optional sparse vector and a payload."""

    def create_collection(self, name: str, meta: CollectionMeta) -> None:
        """Create the collection; if it exists with the same meta do nothing, otherwise raise ModelMismatchError."""
        ...

    def get_meta(self, name: str) -> CollectionMeta | None: ...

    def list_collections(self) -> list[str]: ...

    def drop_collection(self, name: str) -> None: ...

    def upsert(self, name: str, points: Sequence[Point]) -> None: ...

    def delete_ids(self, name: str, ids: Sequence[str]) -> None: ...

    def delete_sources(self, name: str, sources: Sequence[str]) -> None:
        """Remove every chunk of these files (deleted from disk)."""
        ...

    def delete_stale(self, name: str, source: str, keep_hash: str) -> None:
        """Remove chunks of ``source`` written from another version of the file."""
        ...

    def iter_payloads(self, name: str, fields: Sequence[str]) -> Iterator[tuple[str, dict[str, Any]]]:
        """(id, selected payload fields) of every point; used to plan incremental runs."""
        ...

    def count(self, name: str, flt: SearchFilter | None = None) -> int: ...

    def facet(self, name: str, key: str, limit: int = 100) -> dict[str, int]:
        """Distinct values of a keyword payload field with their point counts."""
        ...

    def search_batch(
        self,
        name: str,
        queries: Sequence[StoreQuery],
        k: int,
        flt: SearchFilter | None = None,
        candidates: int = 100,
        fusion: FusionMethod = "rrf",
        sparse_weight: float = 1.0,
    ) -> list[list[ScoredPoint]]:
        """The one search of a store: one result list per query, in order, in few engine calls.

        A query holding a dense vector is searched by cosine (``with_vectors``: each hit's stored
        dense vector comes back too, for a second stage); a sparse one by the dot product of
        IDF-weighted terms; both are hybrid: dense and sparse candidates (``candidates`` each)
        fused inside Qdrant (query API, prefetch). ``fusion``: "rrf" (reciprocal rank, k=2;
        ``sparse_weight`` weighs the sparse list against the dense list's 1.0: Qdrant scores
        rank r as 1 / (1 + (r + 1) / weight)) or "dbsf" (distribution-based score fusion: each
        list's scores normalised by its mean +- 3 sd, then summed; Qdrant has no weights for it).
        A hybrid query without a single known term is a dense search; a sparse one finds nothing.

        Result ``i`` is what a batch of ``queries[i]`` alone returns, with scores to float32
        precision (a batch may be scored as one matrix product); equal fused scores may come in
        another order, as Qdrant leaves that open even between two identical searches. Why one
        entry point: an evaluation runs thousands of queries, and one request each costs more
        than the search; an interactive search is a batch of one.
        """
        ...

    def retrieve(self, name: str, ids: Sequence[str]) -> list[ScoredPoint]:
        """Points by id (score 0), in the order given, missing ids left out."""
        ...

    def iter_vectors(
        self, name: str, fields: Sequence[str], flt: SearchFilter | None = None
    ) -> Iterator[tuple[str, dict[str, Any], np.ndarray]]:
        """(id, selected payload fields, stored dense vector) of every point matching ``flt``."""
        ...

    def update_vectors(
        self, name: str, ids: Sequence[str], vectors: np.ndarray, payload: Mapping[str, Any]
    ) -> None:
        """Replace the dense vectors of these points and set ``payload``'s fields on all of them
        (their other fields and sparse vectors stay)."""
        ...

    def update_meta(self, name: str, meta: CollectionMeta) -> None:
        """Record ``meta`` for an existing collection; it must describe the same vectors
        (only fields that are not compared, such as ``language_means``, may differ)."""
        ...

    def optimize(self, name: str) -> None:
        """Build indexes after bulk writes (the search index of big segments on the embedded store)."""
        ...

    def close(self) -> None: ...


def search_one(
    store: VectorStore,
    name: str,
    query: StoreQuery,
    k: int,
    flt: SearchFilter | None = None,
    candidates: int = 100,
    fusion: FusionMethod = "rrf",
    sparse_weight: float = 1.0,
) -> list[ScoredPoint]:
    """One query's points: a batch of one (benchmarks and tests search one vector at a time)."""
    return store.search_batch(name, [query], k, flt, candidates, fusion, sparse_weight)[0]
