"""One query at a time against a store, in the words the tests use: each is a batch of one
(``search.stores.base.search_one``), the only way a store searches."""

from __future__ import annotations

from typing import Any

import numpy as np

from search.core.types import SparseVector
from search.stores.base import ScoredPoint, SearchFilter, StoreQuery, VectorStore, search_one


def search_dense(
    store: VectorStore,
    name: str,
    vector: np.ndarray,
    k: int,
    flt: SearchFilter | None = None,
    with_vectors: bool = False,
) -> list[ScoredPoint]:
    return search_one(store, name, StoreQuery(dense=vector, with_vectors=with_vectors), k, flt)


def search_sparse(
    store: VectorStore, name: str, vector: SparseVector, k: int, flt: SearchFilter | None = None
) -> list[ScoredPoint]:
    return search_one(store, name, StoreQuery(sparse=vector), k, flt)


def search_hybrid(
    store: VectorStore,
    name: str,
    vector: np.ndarray,
    sparse: SparseVector,
    k: int,
    flt: SearchFilter | None = None,
    **options: Any,
) -> list[ScoredPoint]:
    return search_one(store, name, StoreQuery(dense=vector, sparse=sparse), k, flt, **options)
