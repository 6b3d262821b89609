"""ClientStore: the VectorStore on qdrant-client, for a Qdrant server or cluster, ``:memory:`` or a path.

A server is how several processes share one index and how it scales past one
machine; ``:memory:`` speaks the same API and is what the tests run against.
qdrant-client's local modes (``:memory:`` and a path) are exact brute force, fine
below ~20k points; use EdgeStore or a server for more.

The CollectionMeta lives in Qdrant's collection metadata. Servers that predate
collection metadata drop it (or reject it); then it is kept in a small registry
collection, ``_mlsearch_meta``, whose name no user collection can take.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

import numpy as np
from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import UnexpectedResponse

from search.core.errors import StoreError, StoreLockedError
from search.core.types import SparseVector
from search.stores.base import (
    DENSE,
    SPARSE,
    CollectionMeta,
    FusionMethod,
    Point,
    ScoredPoint,
    SearchFilter,
    StoreQuery,
)
from search.stores.common import (
    GRAPH_M,
    HNSW_EF,
    HNSW_EF_CONSTRUCT,
    HNSW_M,
    OVERSAMPLING,
    RRF_K,
    SCROLL_PAGE,
    batched,
    check_dimension,
    in_requested_order,
    meta_conflict,
    meta_from_json,
    mismatch_error,
    not_found_error,
    search_in_parts,
    validate_collection_name,
)
from search.stores.payload import (
    INDEXED_FIELDS,
    Conditions,
    search_conditions,
    source_conditions,
    stale_conditions,
)

META_KEY = "mlsearch"  # key of our CollectionMeta inside Qdrant's collection metadata
REGISTRY = "_mlsearch_meta"  # fallback home of metas on servers without collection metadata
QUANTIZATIONS = ("int8",)
UPSERT_BATCH = 256  # points per request: ~3 MB of JSON with 1024-d vectors and chunk text, far below limits
QUERY_BATCH = 64  # queries per batch request: 64 x 100 hits with chunk text is a few MB of JSON back
_PAYLOAD: dict[str, Any] = {"with_payload": True, "with_vector": False}
# As the embedded store searches (search.stores.edge.EdgeTuning): the graph's ef when a graph exists,
# and the int8 scan's candidates rescored with the originals when the collection is quantized
# (a server ignores the quantization part for collections without it).
_SEARCH_PARAMS = models.SearchParams(
    hnsw_ef=HNSW_EF, quantization=models.QuantizationSearchParams(rescore=True, oversampling=OVERSAMPLING)
)


class ClientStore:
    """VectorStore on qdrant-client.

    Args:
        location: ``http(s)://host:6333`` for a server or cluster, ``:memory:`` for a
            throwaway in-process store, or a folder path for qdrant-client's local
            persistent mode (one process at a time).
        api_key: sent to the server; needed for Qdrant Cloud and secured servers.
        shards: shards per new collection. More shards spread a collection over the
            nodes of a cluster (and over CPU cores of one node); ``None`` = server default (1).
        replication_factor: copies of each shard; 2+ keeps a collection searchable
            when a node is down. ``None`` = server default (1).
        write_consistency_factor: replicas that must confirm a write before it
            returns; raise it with replication for durability. ``None`` = server default (1).
        on_disk: keep original vectors and payloads memory-mapped on disk instead of in
            RAM, for collections bigger than memory; pair with ``quantization="int8"``
            so the search itself still runs on in-RAM quantized vectors.
        quantization: ``"int8"`` scalar quantization (4x smaller search vectors, results
            rescored with the originals) or ``None``.
        timeout: seconds per request to a server; upserts wait for the write to be applied.

    Settings other than ``location``/``api_key``/``timeout`` apply to collections this
    store creates; an existing collection keeps the settings it was created with.
    Retries of failed requests are left to qdrant-client and the caller.
    """

    def __init__(
        self,
        location: str,
        *,
        api_key: str | None = None,
        shards: int | None = None,
        replication_factor: int | None = None,
        write_consistency_factor: int | None = None,
        on_disk: bool = False,
        quantization: str | None = None,
        timeout: int = 30,
    ) -> None:
        if quantization not in (None, *QUANTIZATIONS):
            raise ValueError(f"Unknown quantization {quantization!r}; choose one of {QUANTIZATIONS} or None.")
        self._location = location
        self._remote = location.startswith(("http://", "https://"))
        self._shards = shards
        self._replication_factor = replication_factor
        self._write_consistency_factor = write_consistency_factor
        self._on_disk = on_disk
        self._quantization = quantization
        self._client = self._connect(location, api_key, timeout)
        # qdrant-client's local mode is plain Python dicts and arrays: one call at a time.
        # A server serialises on its side, so remote calls run concurrently.
        self._serial: AbstractContextManager[Any] = nullcontext() if self._remote else threading.RLock()
        self._metas: dict[str, CollectionMeta] = {}
        self._metas_lock = threading.Lock()

    def _connect(self, location: str, api_key: str | None, timeout: int) -> QdrantClient:
        if self._remote:
            return QdrantClient(url=location, api_key=api_key, timeout=timeout)
        if location == ":memory:":
            return QdrantClient(location=":memory:")
        try:
            return QdrantClient(path=location)
        except RuntimeError as exc:  # qdrant-client's own lock on the folder
            raise StoreLockedError(
                f"Another store handle is using the index at {location}; stop that process (or share "
                "the one handle), use another folder, or run a Qdrant server to share an index."
            ) from exc

    # ---- lifecycle --------------------------------------------------------------------------------

    def close(self) -> None:
        with self._serial:
            self._client.close()

    def create_collection(self, name: str, meta: CollectionMeta) -> None:
        validate_collection_name(name)
        if not self._reuse(name, meta):
            try:
                if not self._create(name, meta):
                    self._registry_put(name, meta)
            except Exception:
                if not self._reuse(name, meta):  # unless another process created it meanwhile
                    raise
        if self._remote:  # idempotent; also repairs a creation interrupted before its indexes
            with self._serial:
                for key in INDEXED_FIELDS:
                    self._client.create_payload_index(
                        name, key.value, models.PayloadSchemaType.KEYWORD, wait=True
                    )
        with self._metas_lock:
            self._metas[name] = meta

    def _reuse(self, name: str, meta: CollectionMeta) -> bool:
        """True when the collection exists with a compatible meta; raises when it exists otherwise."""
        existing = self.get_meta(name)
        if existing is not None:
            if meta_conflict(existing, meta):
                raise mismatch_error(name, existing, meta)
            return True
        if self._exists(name):
            raise StoreError(
                f"Collection {name!r} exists on {self._location} but was not created by this application "
                "(it has no model description). Choose another --collection name."
            )
        return False

    def _create(self, name: str, meta: CollectionMeta) -> bool:
        """Create the collection; True when the server kept the meta in the collection's metadata."""
        settings: dict[str, Any] = {
            "vectors_config": {
                DENSE: models.VectorParams(
                    size=meta.dimension, distance=models.Distance.COSINE, on_disk=self._on_disk or None
                )
            },
            "sparse_vectors_config": {
                SPARSE: models.SparseVectorParams(
                    modifier=models.Modifier.IDF,
                    index=models.SparseIndexParams(on_disk=self._on_disk or None),
                )
            },
            "shard_number": self._shards,
            "replication_factor": self._replication_factor,
            "write_consistency_factor": self._write_consistency_factor,
            "on_disk_payload": self._on_disk or None,
            "quantization_config": self._quantization_config(),
            # int8: the embedded store's quantized scan without a graph; float vectors on a server
            # keep a graph, since an unquantized scan of a large collection costs more than its walk.
            "hnsw_config": models.HnswConfigDiff(
                m=HNSW_M if self._quantization else GRAPH_M, ef_construct=HNSW_EF_CONSTRUCT
            ),
        }
        with self._serial:
            try:
                self._client.create_collection(name, metadata={META_KEY: meta.to_json()}, **settings)
            except UnexpectedResponse as exc:
                if exc.status_code not in (400, 422) or b"metadata" not in (exc.content or b""):
                    raise
                self._client.create_collection(name, **settings)  # a server that rejects metadata
            return self._meta_from_collection(name) is not None

    def _quantization_config(self) -> models.ScalarQuantization | None:
        if self._quantization != "int8":
            return None
        return models.ScalarQuantization(
            scalar=models.ScalarQuantizationConfig(
                type=models.ScalarType.INT8, quantile=0.99, always_ram=True
            )
        )

    def drop_collection(self, name: str) -> None:
        validate_collection_name(name)
        with self._metas_lock:
            self._metas.pop(name, None)
        with self._serial:
            self._client.delete_collection(name)
            if self._client.collection_exists(REGISTRY):
                self._client.delete(REGISTRY, points_selector=[_registry_id(name)], wait=True)

    def get_meta(self, name: str) -> CollectionMeta | None:
        """One request to a server (the collection's info carries the meta), or two on old servers."""
        validate_collection_name(name)
        info = self._collection_info(name)
        if info is None:
            return None
        meta = self._meta_from_info(name, info) or self._registry_get(name)
        if meta is not None:
            with self._metas_lock:
                self._metas[name] = meta
        return meta

    def list_collections(self) -> list[str]:
        """Collections of this application; other collections on a shared server are left out."""
        with self._serial:
            names = [c.name for c in self._client.get_collections().collections]
        return sorted(n for n in names if n != REGISTRY and self._is_ours(n))

    def _is_ours(self, name: str) -> bool:
        try:
            return self.get_meta(name) is not None
        except (ValueError, StoreError):  # a name this application could not have created
            return False

    def optimize(self, name: str) -> None:
        """Nothing to do: a server optimizes in the background and local mode has no index."""
        self._known_meta(name)

    # ---- writes -----------------------------------------------------------------------------------

    def upsert(self, name: str, points: Sequence[Point]) -> None:
        if not points:
            return
        check_dimension(name, self._known_meta(name), points)
        for batch in batched(points, UPSERT_BATCH):
            structs = [_point_struct(p) for p in batch]
            with self._errors(name):
                self._client.upsert(name, points=structs, wait=True)

    def delete_ids(self, name: str, ids: Sequence[str]) -> None:
        for batch in batched(list(ids), UPSERT_BATCH * 4):
            with self._errors(name):
                self._client.delete(name, points_selector=models.PointIdsList(points=list(batch)), wait=True)

    def delete_sources(self, name: str, sources: Sequence[str]) -> None:
        if sources:
            self._delete_where(name, source_conditions(sources))

    def delete_stale(self, name: str, source: str, keep_hash: str) -> None:
        self._delete_where(name, stale_conditions(source, keep_hash))

    def _delete_where(self, name: str, conditions: Conditions) -> None:
        selector = models.FilterSelector(filter=_client_filter(conditions))
        with self._errors(name):
            self._client.delete(name, points_selector=selector, wait=True)

    def update_vectors(
        self, name: str, ids: Sequence[str], vectors: np.ndarray, payload: Mapping[str, Any]
    ) -> None:
        if not len(ids):
            return
        check_dimension(name, self._known_meta(name), [Point(ids[0], vectors[0], {})])
        for start in range(0, len(ids), UPSERT_BATCH):
            part: list[Any] = list(ids[start : start + UPSERT_BATCH])
            changes = [
                models.PointVectors(id=i, vector={DENSE: _floats(v)})
                for i, v in zip(part, vectors[start : start + len(part)])
            ]
            with self._errors(name):
                self._client.update_vectors(name, points=changes, wait=True)
                if payload:
                    self._client.set_payload(name, payload=dict(payload), points=part, wait=True)

    def update_meta(self, name: str, meta: CollectionMeta) -> None:
        validate_collection_name(name)
        existing = self.get_meta(name)
        if existing is None:
            raise not_found_error(name, self.list_collections())
        if meta_conflict(existing, meta):
            raise mismatch_error(name, existing, meta)
        if self._meta_from_collection(name) is not None:
            with self._serial, self._errors(name):
                self._client.update_collection(name, metadata={META_KEY: meta.to_json()})
        else:
            self._registry_put(name, meta)
        with self._metas_lock:
            self._metas[name] = meta

    # ---- reads ------------------------------------------------------------------------------------

    def iter_vectors(
        self, name: str, fields: Sequence[str], flt: SearchFilter | None = None
    ) -> Iterator[tuple[str, dict[str, Any], np.ndarray]]:
        native = _search_filter(flt)
        offset: Any = None
        while True:
            with self._errors(name):
                records, offset = self._client.scroll(
                    name,
                    limit=SCROLL_PAGE,
                    offset=offset,
                    scroll_filter=native,
                    with_payload=list(fields) or False,
                    with_vectors=[DENSE],
                )
            for record in records:
                vector = _dense_of(record.vector)
                if vector is not None:
                    yield str(record.id), dict(record.payload or {}), vector
            if offset is None:
                return

    def iter_payloads(self, name: str, fields: Sequence[str]) -> Iterator[tuple[str, dict[str, Any]]]:
        offset: Any = None
        while True:
            with self._errors(name):
                records, offset = self._client.scroll(
                    name,
                    limit=SCROLL_PAGE,
                    offset=offset,
                    with_payload=list(fields) or False,
                    with_vectors=False,
                )
            for record in records:
                yield str(record.id), dict(record.payload or {})
            if offset is None:
                return

    def count(self, name: str, flt: SearchFilter | None = None) -> int:
        with self._errors(name):
            result = self._client.count(name, count_filter=_search_filter(flt), exact=True)
        return int(result.count)

    def facet(self, name: str, key: str, limit: int = 100) -> dict[str, int]:
        """Needs a keyword index on ``key`` on a server (every INDEXED_FIELDS field has one)."""
        with self._errors(name):
            response = self._client.facet(name, key, limit=limit, exact=True)
        return {hit.value: int(hit.count) for hit in response.hits}  # type: ignore[misc]

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
        """``query_batch_points``, QUERY_BATCH queries per request (local mode runs them one by one)."""
        native = _search_filter(flt)

        def send(part: list[models.QueryRequest]) -> list[list[ScoredPoint]]:
            with self._errors(name):
                responses = self._client.query_batch_points(name, requests=part)
            return [_scored(response.points) for response in responses]

        requests = [_request(query, k, native, candidates, fusion, sparse_weight) for query in queries]
        return search_in_parts(requests, QUERY_BATCH, send)

    def retrieve(self, name: str, ids: Sequence[str]) -> list[ScoredPoint]:
        if not ids:
            return []
        with self._errors(name):
            records = self._client.retrieve(name, ids=list(ids), with_payload=True, with_vectors=False)
        found = (ScoredPoint(id=str(r.id), score=0.0, payload=dict(r.payload or {})) for r in records)
        return in_requested_order(ids, found)

    # ---- meta and errors --------------------------------------------------------------------------

    @contextmanager
    def _errors(self, name: str) -> Iterator[None]:
        """Serialise local-mode calls; turn 'no such collection', however the mode says it, into one error."""
        try:
            with self._serial:
                yield
        except StoreError:
            raise
        except Exception as exc:
            validate_collection_name(name)
            if not self._exists(name):
                raise not_found_error(name, self.list_collections()) from exc
            raise

    def _exists(self, name: str) -> bool:
        with self._serial:
            return bool(self._client.collection_exists(name))

    def _known_meta(self, name: str) -> CollectionMeta:
        with self._metas_lock:
            meta = self._metas.get(name)
        if meta is None:
            meta = self.get_meta(name)
        if meta is None:
            raise not_found_error(name, self.list_collections())
        return meta

    def _collection_info(self, name: str) -> Any | None:
        """The collection's info, or None when there is no such collection."""
        try:
            with self._serial:
                return self._client.get_collection(name)
        except UnexpectedResponse as exc:
            if exc.status_code == 404:
                return None
            raise
        except ValueError as exc:  # local mode says "Collection ... not found"
            if "not found" in str(exc):
                return None
            raise

    def _meta_from_collection(self, name: str) -> CollectionMeta | None:
        info = self._collection_info(name)
        return None if info is None else self._meta_from_info(name, info)

    @staticmethod
    def _meta_from_info(name: str, info: Any) -> CollectionMeta | None:
        data = (getattr(info.config, "metadata", None) or {}).get(META_KEY)
        return meta_from_json(data, f"in the metadata of {name!r}") if data else None

    def _registry_get(self, name: str) -> CollectionMeta | None:
        with self._serial:
            if not self._client.collection_exists(REGISTRY):
                return None
            records = self._client.retrieve(REGISTRY, ids=[_registry_id(name)], with_payload=True)
        if not records or not records[0].payload:
            return None
        return meta_from_json(records[0].payload.get("meta"), f"in {REGISTRY} for {name!r}")

    def _registry_put(self, name: str, meta: CollectionMeta) -> None:
        with self._serial:
            if not self._client.collection_exists(REGISTRY):
                self._client.create_collection(
                    REGISTRY, vectors_config=models.VectorParams(size=1, distance=models.Distance.DOT)
                )
            point = models.PointStruct(
                id=_registry_id(name), vector=[1.0], payload={"collection": name, "meta": meta.to_json()}
            )
            self._client.upsert(REGISTRY, points=[point], wait=True)


def _request(
    query: StoreQuery,
    k: int,
    native: models.Filter | None,
    candidates: int,
    fusion: FusionMethod,
    sparse_weight: float,
) -> models.QueryRequest | None:
    """The one translation of a query into Qdrant's query API; None when there is nothing to
    search (a sparse query without a known term)."""
    dense, sparse = query.dense, query.sparse
    if sparse is not None and not sparse.indices:
        if dense is None:
            return None
        sparse = None  # hybrid without a single known term: plain dense search
    if sparse is None:
        assert dense is not None
        return models.QueryRequest(
            query=_floats(dense),
            using=DENSE,
            filter=native,
            params=_SEARCH_PARAMS,
            limit=k,
            with_payload=True,
            with_vector=[DENSE] if query.with_vectors else False,
        )
    if dense is None:
        return models.QueryRequest(query=_sparse(sparse), using=SPARSE, filter=native, limit=k, **_PAYLOAD)
    limit = max(candidates, k)
    return models.QueryRequest(
        prefetch=[
            models.Prefetch(
                query=_floats(dense), using=DENSE, filter=native, limit=limit, params=_SEARCH_PARAMS
            ),
            models.Prefetch(query=_sparse(sparse), using=SPARSE, filter=native, limit=limit),
        ],
        query=_fusion_query(fusion, sparse_weight),
        filter=native,
        limit=k,
        **_PAYLOAD,
    )


def _scored(points: Sequence[Any]) -> list[ScoredPoint]:
    return [
        ScoredPoint(
            id=str(p.id), score=float(p.score), payload=dict(p.payload or {}), vector=_dense_of(p.vector)
        )
        for p in points
    ]


def _search_filter(flt: SearchFilter | None) -> models.Filter | None:
    conditions = search_conditions(flt)
    return None if conditions is None else _client_filter(conditions)


def _client_filter(conditions: Conditions) -> models.Filter:
    """The one translation of neutral conditions into qdrant-client filters."""

    def matches(pairs: tuple[tuple[str, tuple[str, ...]], ...]) -> list[Any] | None:
        return [models.FieldCondition(key=k, match=models.MatchAny(any=list(v))) for k, v in pairs] or None

    return models.Filter(must=matches(conditions.must), must_not=matches(conditions.must_not))


def _floats(vector: np.ndarray) -> list[float]:
    """JSON-ready floats: REST requests cannot carry numpy arrays."""
    return np.asarray(vector, dtype=np.float32).reshape(-1).tolist()


def _fusion_query(fusion: FusionMethod, sparse_weight: float) -> models.FusionQuery | models.RrfQuery:
    if fusion == "dbsf":
        return models.FusionQuery(fusion=models.Fusion.DBSF)
    if sparse_weight == 1.0:
        return models.FusionQuery(fusion=models.Fusion.RRF)  # Qdrant's k (store_common.RRF_K)
    return models.RrfQuery(rrf=models.Rrf(k=RRF_K, weights=[1.0, float(sparse_weight)]))


def _dense_of(vectors: Any) -> np.ndarray | None:
    """The dense vector of a returned point, when the query asked for vectors."""
    if isinstance(vectors, dict) and DENSE in vectors:
        return np.asarray(vectors[DENSE], dtype=np.float32)
    return None


def _sparse(vector: SparseVector) -> models.SparseVector:
    return models.SparseVector(
        indices=[int(i) for i in vector.indices], values=[float(v) for v in vector.values]
    )


def _point_struct(point: Point) -> models.PointStruct:
    vectors: dict[str, Any] = {DENSE: _floats(point.vector)}
    if point.sparse is not None and point.sparse.indices:
        vectors[SPARSE] = _sparse(point.sparse)
    return models.PointStruct(id=point.id, vector=vectors, payload=dict(point.payload))


def _registry_id(name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"mlsearch-collection:{name}"))
