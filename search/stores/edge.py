"""EdgeStore: the embedded default, Qdrant's own engine in-process (qdrant-edge-py).

Layout under ``data_dir``::

    .lock                               flock held while a process has the store open
    collections/<name>/collection.json  CollectionMeta (written atomically)
    collections/<name>/shard            symlink to the live data-<id>/ (swapped atomically by optimize)
    collections/<name>/data-<id>/       one EdgeShard: WAL + segments
    collections/<name>/optimize.pending written before the first write after an optimize, removed by
                                        the next complete one: an interrupted build is finished later

What the engine guarantees and what this wrapper adds (measured with qdrant-edge-py 0.9.0):

* ``EdgeShard`` is safe to call from several threads: queries, updates, flush and
  optimize may run concurrently without errors. All of them hold the GIL while they
  run (an update of 1000 points with text ~50 ms), so writes go in small batches to
  keep concurrent searches answering.
* Calling a shard after ``close()`` raises, so closing and dropping wait here for
  calls in flight (a shared/exclusive gate per collection).
* ``update`` appends to the WAL through a memory map without fsync: after ``kill -9``
  the shard reloads and replays every returned update; only an OS crash or power
  loss can lose writes newer than the last ``flush`` (which msyncs WAL and segments).
  ``flush`` runs at most every ``flush_interval_s`` and on optimize/close.
* The engine locks its WAL, so a second open of a shard fails with a cryptic
  ``WouldBlock``; the ``.lock`` file turns that into StoreLockedError naming the pid.
* ``optimize`` builds the search index (int8 copies scanned and rescored by default; an
  HNSW graph when ``hnsw_m`` > 0) only for segments above ``indexing_threshold_kb``; smaller
  collections stay in plain segments that are searched exactly, and points written
  after an optimize are searchable at once (``prevent_unoptimized`` is off). It takes
  about 1 min per 100k 384-d points on 2 cores and holds the GIL throughout, which would
  freeze every thread of the process (UI included), so it runs in a child process on a
  copy of the shard that is then swapped in. The child dies with its parent (a killed
  indexer leaves no orphan building a copy nobody will use), and ``optimize.pending``
  survives the kill, so the next ``optimize()`` (every index run ends with one) builds
  the index a killed run did not finish.
* The engine writes through memory maps over sparse files (a new collection is ~200 MB of holes,
  0.5 MB on disk), so a write that finds the disk full cannot fail: the page fault kills the process
  with SIGBUS. Every write therefore checks the free space first (``EdgeTuning.min_free_bytes`` plus
  three times what the write adds) and raises DiskFullError ("the disk holding DIR is full") instead.
  Even opening a collection writes (the engine replays its WAL, resizes its flag files and rewrites
  its segment descriptions): below ``open_free_bytes`` the store opens a copy of each collection in a
  temporary folder on a disk with room (holes copied as holes: about what the collection takes on disk)
  and refuses writes, so ``search`` and ``collections`` keep working on a full disk.
* Filtered graph search without ACORN finds only about half of the true top 10 when
  a filter keeps 20 % of the points (keyword indexes add no per-value graph links
  here), so filtered searches use ACORN when a graph is asked for (see EdgeTuning).
* With ``hnsw_m=0`` (the default) optimize() builds no graph, only int8-quantized copies of the
  vectors (about 2 s per 100k 384-d points); a search scans those and rescores the best
  ``oversampling`` x k with the originals.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Self

import numpy as np
from qdrant_edge import (
    AcornSearchParams,
    CountRequest,
    Distance,
    EdgeConfig,
    EdgeOptimizersConfig,
    EdgeShard,
    EdgeSparseVectorParams,
    EdgeVectorParams,
    FacetRequest,
    FieldCondition,
    Filter,
    Fusion,
    HnswIndexConfig,
    MatchAny,
    Modifier,
    PayloadSchemaType,
    PayloadSelector,
    PointVectors,
    Prefetch,
    QuantizationSearchParams,
    Query,
    QueryBatchRequest,
    QueryRequest,
    ScalarQuantizationConfig,
    ScalarType,
    ScrollRequest,
    SearchParams,
    UpdateOperation,
)
from qdrant_edge import Point as EdgePoint
from qdrant_edge import SparseVector as EdgeSparseVector

from search.core.errors import StoreError, StoreLockedError, disk_full
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
    meta_from_text,
    mismatch_error,
    not_found_error,
    search_in_parts,
    validate_collection_name,
    write_json_atomic,
)
from search.stores.payload import (
    INDEXED_FIELDS,
    Conditions,
    search_conditions,
    source_conditions,
    stale_conditions,
)

log = logging.getLogger(__name__)

MB = 1024 * 1024
LOCK_FILE = ".lock"
COLLECTIONS_DIR = "collections"
META_FILE = "collection.json"
SHARD_LINK = "shard"
_DATA = "data-"  # shard folders; only the one the link names is live
_LINK_TMP = ".link-"
_STAGING = ".staging-"  # a collection being created; renamed into place when complete
_DROPPING = ".dropping-"  # a collection renamed away before its files are removed
QUERY_BATCH = 256  # queries per engine batch; the gate is taken per batch, so a close waits at most one
PENDING_FILE = "optimize.pending"  # writes since the last complete optimize: the index is not built


@dataclass(frozen=True)
class EdgeTuning:
    """Engine settings; the defaults suit a desktop index of up to a few hundred thousand chunks.

    Chosen with benchmarks/ann_recall.py (issue 22): on a real multilingual collection (52,024
    chunks: XQuAD-R's 11-language answer pool and Tatoeba sentences in 40 languages, e5-small with
    the language correction and the vote), recall@10 of the app's search against an exact scan was
    0.749 with the earlier graph (m=16, ef_construct=100, the engine's ef), 47 of 220 queries at
    0.0: the graph walk stays in another language's region; m=32, ef=512 reached 0.992 there but
    0.58 on a language- and topic-clustered 100k collection, whatever the ef. A graph needs a
    similarity gradient to walk; a scan does not. So no graph (``hnsw_m=0``): collections above
    ``indexing_threshold_kb`` of vectors get int8-quantized copies that are scanned, and the best
    ``oversampling`` x k are rescored with the original vectors (README, "ANN recall": recall@10
    and p50 against the exact float scan). Below the threshold segments are scanned exactly.
    A graph can still be asked for (``hnsw_m`` > 0, searched with ``hnsw_ef``).
    """

    # Segments larger than this (~66k 384-d chunks) get the search index on optimize() (quantized
    # copies, and a graph when hnsw_m > 0); smaller ones are scanned exactly (~1 ms at 5k 384-d
    # points, growing linearly; the quantized scan is ~4x cheaper). Not lower: building the index
    # rewrites the collection in a child process, 12.5 s after any write to a 52k-chunk collection
    # against 0.3 s for the merge below the threshold (README, "ANN recall").
    indexing_threshold_kb: int = 100_000
    # Filtered searches expected to match fewer points than this use the payload index and an
    # exact scan instead of the graph, so narrow filters never miss results.
    full_scan_threshold_kb: int = 10_000
    hnsw_m: int = HNSW_M
    hnsw_ef_construct: int = HNSW_EF_CONSTRUCT
    hnsw_ef: int | None = HNSW_EF  # search-time beam width; None = the engine's default
    # int8 scalar quantization of indexed segments (None: the float vectors are searched) and how
    # many candidates per result its scan keeps for rescoring with the originals.
    quantization: str | None = "int8"
    oversampling: float = OVERSAMPLING
    exact: bool = False  # every search scans all float vectors (the reference ANN recall is measured against)
    # Filtered graph searches otherwise walk only the matching points of a graph built for
    # all of them: measured recall@10 0.48 at 100k clustered 384-d points with a 20 % language
    # filter, 0.98 with ACORN (neighbours of neighbours), at ~9 ms instead of ~0.5 ms; an
    # exact scan of the same subset costs about as much. Narrow filters scan exactly anyway.
    acorn: bool = True
    # Segments are persisted at most this long after a write; the WAL covers the gap after a crash.
    flush_interval_s: float = 5.0
    write_batch: int = 256  # points per engine update: each holds the GIL for ~10 ms
    # Free space the data folder keeps: a write needs this much plus three times its own size (WAL,
    # segment, payload index) or it is refused with DiskFullError, never left to a SIGBUS.
    min_free_bytes: int = 64 * MB
    # Opening a collection writes a few pages; below this the store reads copies and refuses writes.
    open_free_bytes: int = 16 * MB

    def search_params(self, filtered: bool) -> SearchParams | None:
        if self.exact:
            return SearchParams(exact=True, quantization=QuantizationSearchParams(ignore=True))
        acorn = AcornSearchParams(enable=True) if filtered and self.acorn and self.hnsw_m else None
        quantization = (
            QuantizationSearchParams(rescore=True, oversampling=self.oversampling)
            if self.quantization
            else None
        )
        if acorn is None and self.hnsw_ef is None and quantization is None:
            return None
        return SearchParams(hnsw_ef=self.hnsw_ef, acorn=acorn, quantization=quantization)

    def quantization_config(self) -> ScalarQuantizationConfig | None:
        if self.quantization is None:
            return None
        if self.quantization != "int8":
            raise ValueError(f"Unknown quantization {self.quantization!r}; choose 'int8' or None.")
        return ScalarQuantizationConfig(type=ScalarType.Int8, quantile=0.99, always_ram=True)

    @property
    def label(self) -> str:
        """The index settings in a few words (benchmark tables, collection info)."""
        if self.exact:
            return "exact float scan"
        index = (
            f"graph m={self.hnsw_m}, ef_construct={self.hnsw_ef_construct}, ef={self.hnsw_ef or 'default'}"
        )
        if not self.hnsw_m:
            index = "no graph: scan"
        if self.quantization:
            return f"{index} of {self.quantization}, rescored x{self.oversampling:g}"
        return f"{index} of floats"


class _Gate:
    """Shared for calls into a shard, exclusive for closing it; a waiting closer blocks new calls."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._active = 0
        self._closing = False

    @contextmanager
    def shared(self) -> Iterator[None]:
        with self._cond:
            while self._closing:
                self._cond.wait()
            self._active += 1
        try:
            yield
        finally:
            with self._cond:
                self._active -= 1
                if not self._active:
                    self._cond.notify_all()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._cond:
            while self._closing:
                self._cond.wait()
            self._closing = True
            while self._active:
                self._cond.wait()
        try:
            yield
        finally:
            with self._cond:
                self._closing = False
                self._cond.notify_all()


@dataclass
class _Open:
    """One open collection: its shard and the locks around it."""

    meta: CollectionMeta
    shard: EdgeShard
    gate: _Gate = field(default_factory=_Gate)
    write_lock: threading.Lock = field(default_factory=threading.Lock)  # one writer at a time
    last_flush: float = field(default_factory=time.monotonic)
    optimized: bool = False  # no writes since the last complete optimize (PENDING_FILE absent)
    closed: bool = False


class _DirLock:
    """An flock on ``data_dir/.lock``; the kernel releases it when the process dies, even by kill -9."""

    def __init__(self, data_dir: Path) -> None:
        try:
            fd = os.open(data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StoreError(
                f"Cannot open the lock file of the index at {data_dir} ({exc.strerror or exc}); "
                "check that the folder is writable by you, or use --data-dir to choose another one."
            ) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            raise StoreLockedError(_locked_message(data_dir, holder)) from None
        except OSError as exc:  # e.g. ENOLCK on a network file system without locking
            os.close(fd)
            raise StoreError(
                f"Cannot lock the index at {data_dir} ({exc.strerror or exc}); keep the index on a "
                "local disk (--data-dir), or run a Qdrant server and use --qdrant-url."
            ) from exc
        # A holder killed with -9 leaves its pid here but no lock: the kernel dropped the flock.
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except OSError:  # a full or read-only disk: the pid only makes the "locked" message nicer
            pass
        self._fd: int | None = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def _read_pid(fd: int) -> int | None:
    try:
        return int(os.pread(fd, 32, 0).decode().strip())
    except (OSError, ValueError):
        return None


def _locked_message(data_dir: Path, pid: int | None) -> str:
    if pid == os.getpid():
        return (
            f"This process (pid {pid}) already has the index at {data_dir} open. Share that store "
            "handle (one Services per data dir) instead of opening it twice: two handles on one "
            "embedded store would corrupt it."
        )
    who = f"pid {pid}" if pid else "pid unknown"
    return (
        f"Another process ({who}) is using the index at {data_dir}; stop it or use --data-dir "
        "to choose another folder (or run a Qdrant server and use --qdrant-url to share one index)."
    )


class EdgeStore:
    """VectorStore on qdrant-edge-py: one shard per collection, safe across threads, one process per dir."""

    def __init__(self, data_dir: Path, tuning: EdgeTuning | None = None) -> None:
        self._dir = Path(data_dir).expanduser().resolve()
        self._collections_dir = self._dir / COLLECTIONS_DIR
        try:
            self._collections_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"Cannot create the index folder {self._collections_dir} ({exc.strerror or exc}); "
                "use --data-dir to choose a folder you can write to."
            ) from exc
        self._tuning = tuning or EdgeTuning()
        self._dir_lock = _DirLock(self._dir)
        self._lock = threading.RLock()  # guards _open and collection create/drop/close
        self._open: dict[str, _Open] = {}
        self._closed = False
        self._snapshot: Path | None = None  # copies of the collections read while the disk is full
        self._full: str | None = None  # why writes are refused (the disk is full), or None
        try:
            self._remove_leftovers()
            free = free_bytes(self._dir)
            if free < self._tuning.open_free_bytes:
                self._full = f" ({free // 1024} KB free)"
        except BaseException:
            self._dir_lock.release()  # or this process could never open the store again
            raise

    @property
    def tuning(self) -> EdgeTuning:
        return self._tuning

    def set_search(
        self, *, hnsw_ef: int | None = HNSW_EF, exact: bool = False, oversampling: float = OVERSAMPLING
    ) -> None:
        """Change how searches use the index from now on (benchmarks compare settings on one build)."""
        self._tuning = replace(self._tuning, hnsw_ef=hnsw_ef, exact=exact, oversampling=oversampling)

    # ---- lifecycle --------------------------------------------------------------------------------

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Flush and close every shard (waiting for calls in flight), then release the dir lock."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for handle in self._open.values():
                self._close_handle(handle)
            self._open.clear()
            if self._snapshot is not None:
                shutil.rmtree(self._snapshot, ignore_errors=True)
                self._snapshot = None
            self._dir_lock.release()

    def create_collection(self, name: str, meta: CollectionMeta) -> None:
        validate_collection_name(name)
        with self._lock:
            self._check_open()
            existing = self._read_meta(name)
            if existing is not None:
                if meta_conflict(existing, meta):
                    raise mismatch_error(name, existing, meta)
                return
            target = self._collections_dir / name
            if target.exists():
                raise StoreError(
                    f"{target} exists but has no {META_FILE}, so it is not a complete collection. "
                    "Move it away or delete it, then index again."
                )
            self._check_space()
            self._build(name, meta, target)

    def drop_collection(self, name: str) -> None:
        validate_collection_name(name)
        with self._lock:
            self._check_open()
            handle = self._open.pop(name, None)
            if handle is not None:
                self._close_handle(handle)
            target = self._collections_dir / name
            if not target.exists():
                return
            trash = self._collections_dir / f"{_DROPPING}{name}-{uuid.uuid4().hex[:8]}"
            os.rename(target, trash)  # atomic: the collection is gone even if removal is interrupted
            shutil.rmtree(trash, ignore_errors=True)

    def get_meta(self, name: str) -> CollectionMeta | None:
        validate_collection_name(name)
        self._check_open()
        handle = self._open.get(name)
        return handle.meta if handle is not None else self._read_meta(name)

    def list_collections(self) -> list[str]:
        self._check_open()
        return sorted(
            entry.name
            for entry in self._collections_dir.iterdir()
            if not entry.name.startswith(".") and (entry / META_FILE).is_file()
        )

    def disk_bytes(self, name: str) -> int:
        """Bytes of the collection's folder once its writes are flushed (what an evaluation reports)."""
        handle = self._handle(name)
        with handle.write_lock, handle.gate.shared():
            self._ensure_live(handle, name)
            self._flush(handle)
        folder = self._collections_dir / name
        return sum(
            p.stat().st_blocks * 512 for p in folder.rglob("*") if p.is_file()
        )  # allocated, not sparse

    def optimize(self, name: str) -> None:
        """Merge segments and build the search index where they are big enough, without freezing this process.

        A child process optimizes a copy of the flushed shard while searches keep using the
        live one; the copy is then swapped in. Writes wait until it is done.
        """
        handle = self._handle(name)
        folder = self._collections_dir / name
        with handle.write_lock:
            with handle.gate.shared():
                self._ensure_live(handle, name)
                if handle.optimized:
                    return
                if not self._room_to_optimize(name, folder):
                    return  # said why; the pending mark stays, the next run builds the index
                self._flush(handle)
                size_kb = handle.shard.count(CountRequest(exact=True)) * handle.meta.dimension * 4 // 1024
                if size_kb < self._tuning.indexing_threshold_kb:  # no graph to build: merging is quick
                    handle.shard.optimize()
                    self._flush(handle)
                    self._mark_optimized(handle, folder)
                    return
                live = folder / os.readlink(folder / SHARD_LINK)
                fresh = folder / f"{_DATA}{uuid.uuid4().hex[:8]}"
                shutil.copytree(live, fresh, copy_function=sparse_copy)  # holes stay holes
            try:
                _optimize_in_child(fresh)
                with handle.gate.exclusive():
                    self._ensure_live(handle, name)
                    self._swap(handle, folder, old=live, new=fresh)
                    self._mark_optimized(handle, folder)
            except BaseException:
                shutil.rmtree(fresh, ignore_errors=True)
                if handle.closed:  # a close or drop meanwhile explains the failure better
                    self._check_open()
                    if not (folder / META_FILE).is_file():
                        raise not_found_error(name, self.list_collections()) from None
                raise
        shutil.rmtree(live, ignore_errors=True)

    def _swap(self, handle: _Open, folder: Path, old: Path, new: Path) -> None:
        """Point the link at ``new`` and reopen; on failure go back to ``old``."""
        config = _shard_config(handle.meta, self._tuning)
        handle.shard.close()
        try:
            _point_link(folder, new.name)
            handle.shard = EdgeShard.load(str(folder / SHARD_LINK), config)
        except BaseException:
            _point_link(folder, old.name)
            try:
                handle.shard = EdgeShard.load(str(folder / SHARD_LINK), config)
            except BaseException:
                handle.closed = True  # the next call reopens it from disk
                self._open.pop(folder.name, None)
                raise
            raise
        handle.last_flush = time.monotonic()

    def _mark_optimized(self, handle: _Open, folder: Path) -> None:
        """The index is complete: forget the pending mark (in memory and on disk)."""
        (folder / PENDING_FILE).unlink(missing_ok=True)
        handle.optimized = True

    def _mark_pending(self, handle: _Open, name: str) -> None:
        """Before the first write after an optimize: persist that the index needs building again,
        so a process killed before its optimize finishes leaves the next one something to do."""
        if handle.optimized:
            pending = self._collections_dir / name / PENDING_FILE
            pending.touch()
            _fsync_dir(pending.parent)
            handle.optimized = False

    def indexed_vectors(self, name: str) -> int:
        """Vectors covered by the search index: 0 until optimize() finds a segment above the threshold."""
        with self._reading(name) as handle:
            return int(handle.shard.info().indexed_vectors_count)

    # ---- writes -----------------------------------------------------------------------------------

    def upsert(self, name: str, points: Sequence[Point]) -> None:
        if not points:
            return
        with self._writing(name, _write_bytes(points)) as handle:
            check_dimension(name, handle.meta, points)
            for batch in batched(points, self._tuning.write_batch):
                handle.shard.update(UpdateOperation.upsert_points([_edge_point(p) for p in batch]))
                self._maybe_flush(handle)

    def delete_ids(self, name: str, ids: Sequence[str]) -> None:
        if not ids:
            return
        with self._writing(name) as handle:
            for batch in batched(list(ids), self._tuning.write_batch):
                handle.shard.update(UpdateOperation.delete_points(list(batch)))
            self._maybe_flush(handle)

    def delete_sources(self, name: str, sources: Sequence[str]) -> None:
        if sources:
            self._delete_where(name, source_conditions(sources))

    def delete_stale(self, name: str, source: str, keep_hash: str) -> None:
        self._delete_where(name, stale_conditions(source, keep_hash))

    def _delete_where(self, name: str, conditions: Conditions) -> None:
        with self._writing(name) as handle:
            handle.shard.update(UpdateOperation.delete_points_by_filter(_edge_filter(conditions)))
            self._maybe_flush(handle)

    def update_vectors(
        self, name: str, ids: Sequence[str], vectors: np.ndarray, payload: Mapping[str, Any]
    ) -> None:
        if not len(ids):
            return
        with self._writing(name) as handle:
            check_dimension(name, handle.meta, [Point(ids[0], vectors[0], {})])
            for start in range(0, len(ids), self._tuning.write_batch):
                part: list[Any] = list(ids[start : start + self._tuning.write_batch])
                rows = vectors[start : start + len(part)]
                changes = [PointVectors(i, {DENSE: _dense(v)}) for i, v in zip(part, rows)]
                handle.shard.update(UpdateOperation.update_vectors(changes))
                if payload:
                    handle.shard.update(UpdateOperation.set_payload(part, dict(payload)))
                self._maybe_flush(handle)

    def update_meta(self, name: str, meta: CollectionMeta) -> None:
        validate_collection_name(name)
        with self._lock:
            self._check_open()
            existing = self._read_meta(name)
            if existing is None:
                raise not_found_error(name, self.list_collections())
            if meta_conflict(existing, meta):
                raise mismatch_error(name, existing, meta)
            write_json_atomic(self._collections_dir / name / META_FILE, meta.to_json())
            handle = self._open.get(name)
            if handle is not None:
                handle.meta = meta

    # ---- reads ------------------------------------------------------------------------------------

    def iter_vectors(
        self, name: str, fields: Sequence[str], flt: SearchFilter | None = None
    ) -> Iterator[tuple[str, dict[str, Any], np.ndarray]]:
        selector: Any = PayloadSelector.Include(list(fields)) if fields else False
        native = _search_filter(flt)
        offset: Any = None
        while True:
            with self._reading(name) as handle:
                records, offset = handle.shard.scroll(
                    ScrollRequest(
                        offset=offset,
                        limit=SCROLL_PAGE,
                        filter=native,
                        with_payload=selector,
                        with_vector=[DENSE],
                    )
                )
            for record in records:
                vector = _dense_of(record.vector)
                if vector is not None:
                    yield str(record.id), dict(record.payload or {}), vector
            if offset is None:
                return

    def iter_payloads(self, name: str, fields: Sequence[str]) -> Iterator[tuple[str, dict[str, Any]]]:
        # The gate is held per page only, so an abandoned iterator never blocks close or drop.
        selector: Any = PayloadSelector.Include(list(fields)) if fields else False
        offset: Any = None
        while True:
            with self._reading(name) as handle:
                records, offset = handle.shard.scroll(
                    ScrollRequest(offset=offset, limit=SCROLL_PAGE, with_payload=selector, with_vector=False)
                )
            for record in records:
                yield str(record.id), dict(record.payload or {})
            if offset is None:
                return

    def count(self, name: str, flt: SearchFilter | None = None) -> int:
        request = CountRequest(exact=True, filter=_search_filter(flt))
        with self._reading(name) as handle:
            return int(handle.shard.count(request))

    def facet(self, name: str, key: str, limit: int = 100) -> dict[str, int]:
        with self._reading(name) as handle:
            response = handle.shard.facet(FacetRequest(key=key, limit=limit, exact=True))
        return {hit.value: int(hit.count) for hit in response}  # type: ignore[misc]

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
        """One ``EdgeShard.query_batch`` per QUERY_BATCH queries: the engine plans them together."""
        native = _search_filter(flt)

        def send(part: list[QueryRequest]) -> list[list[ScoredPoint]]:
            with self._reading(name) as handle:  # the gate per part: a long batch never blocks a close
                return [_scored(points) for points in handle.shard.query_batch(QueryBatchRequest(part))]

        requests = [self._request(query, k, native, candidates, fusion, sparse_weight) for query in queries]
        return search_in_parts(requests, QUERY_BATCH, send)

    def _request(
        self,
        query: StoreQuery,
        k: int,
        native: Filter | None,
        candidates: int,
        fusion: FusionMethod,
        sparse_weight: float,
    ) -> QueryRequest | None:
        """A query as the engine's request; None when there is nothing to search (a sparse query without terms)."""
        dense, sparse = query.dense, query.sparse
        if sparse is not None and not sparse.indices:
            if dense is None:
                return None
            sparse = None  # hybrid without a single known term: plain dense search
        params = self._tuning.search_params(native is not None)
        if sparse is None:
            assert dense is not None
            return QueryRequest(
                limit=k,
                query=Query.Nearest(_dense(dense), using=DENSE),
                filter=native,
                params=params,
                with_payload=True,
                with_vector=[DENSE] if query.with_vectors else False,
            )
        if dense is None:
            return QueryRequest(
                limit=k, query=Query.Nearest(_sparse(sparse), using=SPARSE), filter=native, with_payload=True
            )
        weights = None if sparse_weight == 1.0 else [1.0, float(sparse_weight)]
        fuse = Fusion.Dbsf() if fusion == "dbsf" else Fusion.Rrf(k=RRF_K, weights=weights)
        limit = max(candidates, k)
        return QueryRequest(
            limit=k,
            prefetches=[
                Prefetch(
                    limit=limit, query=Query.Nearest(_dense(dense), using=DENSE), filter=native, params=params
                ),
                Prefetch(limit=limit, query=Query.Nearest(_sparse(sparse), using=SPARSE), filter=native),
            ],
            query=fuse,  # type: ignore[arg-type]  # the stubs omit Fusion.Rrf / Fusion.Dbsf
            filter=native,
            with_payload=True,
        )

    def retrieve(self, name: str, ids: Sequence[str]) -> list[ScoredPoint]:
        if not ids:
            return []
        with self._reading(name) as handle:
            records = handle.shard.retrieve(list(ids), with_payload=True, with_vector=False)
        found = (ScoredPoint(id=str(r.id), score=0.0, payload=dict(r.payload or {})) for r in records)
        return in_requested_order(ids, found)

    # ---- handles ----------------------------------------------------------------------------------

    @contextmanager
    def _reading(self, name: str) -> Iterator[_Open]:
        handle = self._handle(name)
        with handle.gate.shared():
            self._ensure_live(handle, name)
            yield handle

    @contextmanager
    def _writing(self, name: str, size: int = 0) -> Iterator[_Open]:
        # The write lock before the gate, as in optimize(): a writer waiting for an optimize
        # must not hold the gate the optimize needs for its swap.
        self._check_space(size)
        handle = self._handle(name)
        with handle.write_lock, handle.gate.shared():
            self._ensure_live(handle, name)
            self._mark_pending(handle, name)
            yield handle

    def _ensure_live(self, handle: _Open, name: str) -> None:
        if handle.closed:  # dropped, or the store closed, while this call waited
            self._check_open()
            raise not_found_error(name, self.list_collections())

    def _handle(self, name: str) -> _Open:
        handle = self._open.get(name)  # fast path without the store lock: searches never queue behind a drop
        if handle is not None and not handle.closed:
            return handle
        validate_collection_name(name)
        with self._lock:
            self._check_open()
            handle = self._open.get(name)
            if handle is None:
                handle = self._load(name)
                self._open[name] = handle
            return handle

    def _check_space(self, size: int = 0) -> None:
        """DiskFullError unless the data folder's disk has the margin plus three times ``size`` free."""
        if self._full is not None:
            raise disk_full(self._dir, self._full)
        free = free_bytes(self._dir)
        needed = self._tuning.min_free_bytes + 3 * size
        if free < needed:
            raise disk_full(self._dir, f" ({free // MB} MB free, writing needs {needed // MB + 1} MB)")

    def _room_to_optimize(self, name: str, folder: Path) -> bool:
        """Building the index rewrites the collection (merged segments, or a copy for the child):
        without room for that it is left for the next run, said in one line."""
        if self._full is not None:
            return False
        used = _allocated(folder)
        free = free_bytes(self._dir)
        if free >= self._tuning.min_free_bytes + 2 * used:
            return True
        log.warning(
            "the disk holding %s has %d MB free; building the search index of %s needs about %d MB: skipped "
            "(searches stay exact; the next index run builds it)",
            self._dir,
            free // MB,
            name,
            (self._tuning.min_free_bytes + 2 * used) // MB + 1,
        )
        return False

    def _readable_copy(self, name: str) -> Path:
        """The collection's folder, or on a full disk a copy of it in a temporary folder with room:
        opening a shard writes, and a write into a full disk is a SIGBUS."""
        folder = self._collections_dir / name
        if self._full is None:  # the disk may have filled since the store was opened (a long-running UI)
            free = free_bytes(self._dir)
            if free >= self._tuning.open_free_bytes:
                return folder
            self._full = f" ({free // 1024} KB free)"
        if self._snapshot is None:
            self._snapshot = _snapshot_dir(_allocated(self._collections_dir) + self._tuning.open_free_bytes)
            if self._snapshot is None:
                raise disk_full(self._dir, f"{self._full}; no temporary folder has room for a copy to read")
            log.warning(
                "the disk holding %s is full%s: reading a copy of the index in %s; indexing is refused "
                "until there is room",
                self._dir,
                self._full,
                self._snapshot,
            )
        copy = self._snapshot / name
        if not copy.exists():
            shutil.copytree(folder, copy, symlinks=True, copy_function=sparse_copy)
        return copy

    def _load(self, name: str) -> _Open:
        meta = self._read_meta(name)
        if meta is None:
            raise not_found_error(name, self.list_collections())
        folder = self._readable_copy(name)
        _remove_dead_shards(folder)
        path = folder / SHARD_LINK
        try:
            # Passing the config checks it against the segments (a dimension that disagrees with
            # collection.json fails here) and applies the current tuning.
            shard = EdgeShard.load(str(path), _shard_config(meta, self._tuning))
        except Exception as exc:  # the engine raises plain Exception
            raise StoreError(
                f"Cannot open collection {name!r} at {path}: {exc}. If another program has it open, "
                "stop that program; if the files are damaged, drop the collection and index again."
            ) from exc
        indexed = set(shard.info().payload_schema)
        for key in INDEXED_FIELDS:  # collections from older versions may lack newer indexes
            if key not in indexed:
                shard.update(UpdateOperation.create_field_index(key.value, PayloadSchemaType.Keyword))
        return _Open(meta=meta, shard=shard, optimized=not (folder / PENDING_FILE).exists())

    def _build(self, name: str, meta: CollectionMeta, target: Path) -> None:
        """Create in a staging folder and rename into place, so a crash never leaves half a collection."""
        staging = self._collections_dir / f"{_STAGING}{name}-{uuid.uuid4().hex[:8]}"
        try:
            data = f"{_DATA}{uuid.uuid4().hex[:8]}"
            shard = EdgeShard.create(str(staging / data), _shard_config(meta, self._tuning))
            try:
                for key in INDEXED_FIELDS:
                    shard.update(UpdateOperation.create_field_index(key.value, PayloadSchemaType.Keyword))
            finally:
                shard.close()
            os.symlink(data, staging / SHARD_LINK)
            write_json_atomic(staging / META_FILE, meta.to_json())
            os.rename(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise

    def _close_handle(self, handle: _Open) -> None:
        with handle.gate.exclusive():
            if not handle.closed:
                handle.closed = True
                handle.shard.close()  # flushes

    def _read_meta(self, name: str) -> CollectionMeta | None:
        path = self._collections_dir / name / META_FILE
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        return meta_from_text(text, str(path))

    def _maybe_flush(self, handle: _Open) -> None:
        if time.monotonic() - handle.last_flush >= self._tuning.flush_interval_s:
            self._flush(handle)

    def _flush(self, handle: _Open) -> None:
        handle.shard.flush()
        handle.last_flush = time.monotonic()

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(f"The index at {self._dir} has been closed; open a new EdgeStore to use it.")

    def _remove_leftovers(self) -> None:
        """Staging and dropping folders of a process that died mid-way; safe to delete under the dir lock."""
        for entry in self._collections_dir.iterdir():
            if entry.name.startswith((_STAGING, _DROPPING)):
                shutil.rmtree(entry, ignore_errors=True)


# Only qdrant_edge is imported, so the child starts fast and needs nothing from this package.
# It asks the kernel to kill it when its parent dies (Linux prctl PR_SET_PDEATHSIG), then checks
# that the parent did not die before that took effect: optimize holds the GIL, so a thread
# watching the parent could not run.
_OPTIMIZE_SCRIPT = """
import ctypes, os, signal, sys
PR_SET_PDEATHSIG = 1
try:
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
except (AttributeError, OSError):
    pass  # not Linux: an orphan finishes its copy, which the next open removes
if os.getppid() != int(sys.argv[2]):
    sys.exit("the indexer that started this optimize has gone")
from qdrant_edge import EdgeShard
shard = EdgeShard.load(sys.argv[1])  # with the config persisted beside it: this store's tuning
shard.optimize()
shard.close()
"""


def _optimize_in_child(path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", _OPTIMIZE_SCRIPT, str(path), str(os.getpid())],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()[-3:]
        raise StoreError(
            f"Building the search index in a child process failed (exit {result.returncode}: "
            f"{' / '.join(detail) or 'no output'}). Searches still work, exhaustively; run the "
            "optimize step again, and re-index if it keeps failing."
        )


def _point_link(folder: Path, target: str) -> None:
    """Replace the ``shard`` symlink atomically: readers of the folder see the old or the new shard."""
    tmp = folder / f"{_LINK_TMP}{uuid.uuid4().hex[:8]}"
    os.symlink(target, tmp)
    os.replace(tmp, folder / SHARD_LINK)
    _fsync_dir(folder)


def _fsync_dir(folder: Path) -> None:
    """Make a rename or a new file in ``folder`` survive a power cut."""
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def free_bytes(folder: Path) -> int:
    """Bytes an unprivileged process may still write on the file system holding ``folder``."""
    return int(shutil.disk_usage(folder).free)


def _allocated(folder: Path) -> int:
    """Bytes ``folder`` takes on disk (its sparse files count by what is written, not by their size)."""
    total = 0
    for path in folder.rglob("*"):
        try:
            if path.is_file() and not path.is_symlink():
                total += path.stat().st_blocks * 512
        except OSError:
            continue
    return total


def _snapshot_dir(needed: int) -> Path | None:
    """A new temporary folder on a file system with ``needed`` bytes free (the system's temporary
    folder, else /dev/shm), or None."""
    for candidate in dict.fromkeys((tempfile.gettempdir(), "/dev/shm")):
        try:
            if os.path.isdir(candidate) and free_bytes(Path(candidate)) >= needed:
                return Path(tempfile.mkdtemp(prefix="mlsearch-index-copy-", dir=candidate))
        except OSError:
            continue
    return None


def sparse_copy(src: str, dst: str) -> str:
    """Copy a file leaving its holes holes (``copytree``'s ``copy_function``).

    The engine's memory-mapped files are mostly holes (a new collection: ~200 MB of file size,
    0.5 MB written); a plain copy would write all of it.
    """
    with open(src, "rb") as source, open(dst, "wb") as target:
        size = os.fstat(source.fileno()).st_size
        position = 0
        try:
            while position < size:
                try:
                    start = os.lseek(source.fileno(), position, os.SEEK_DATA)
                except OSError as exc:
                    if exc.errno == errno.ENXIO:  # nothing but a hole up to the end
                        break
                    raise
                end = os.lseek(source.fileno(), start, os.SEEK_HOLE)
                source.seek(start)
                target.seek(start)
                remaining = end - start
                while remaining > 0 and (block := source.read(min(remaining, MB))):
                    target.write(block)
                    remaining -= len(block)
                position = end
        except OSError as exc:
            if exc.errno not in (errno.EINVAL, errno.EOPNOTSUPP):  # no SEEK_DATA here: copy it all
                raise
            source.seek(0)
            target.seek(0)
            shutil.copyfileobj(source, target, MB)
        target.truncate(size)
    shutil.copystat(src, dst)
    return dst


def _write_bytes(points: Sequence[Point]) -> int:
    """About what writing ``points`` adds to the store: vectors, sparse terms and payload text."""
    total = 0
    for point in points:
        total += int(np.asarray(point.vector).nbytes) + 64
        if point.sparse is not None:
            total += 8 * len(point.sparse.indices)
        total += sum(len(str(value)) for value in point.payload.values())
    return total


def _remove_dead_shards(folder: Path) -> None:
    """Copies an interrupted optimize left behind; only the linked shard is live."""
    try:
        live = os.readlink(folder / SHARD_LINK)
    except OSError as exc:
        raise StoreError(
            f"Collection folder {folder} has no '{SHARD_LINK}' link to its data ({exc}); it was not "
            "written by this version or was damaged. Drop the collection and index it again."
        ) from exc
    for entry in folder.iterdir():
        if (entry.name.startswith(_DATA) and entry.name != live) or entry.name.startswith(_LINK_TMP):
            if entry.is_symlink() or entry.is_file():
                entry.unlink()
            else:
                shutil.rmtree(entry, ignore_errors=True)


def _shard_config(meta: CollectionMeta, tuning: EdgeTuning) -> EdgeConfig:
    return EdgeConfig(
        vectors={DENSE: EdgeVectorParams(size=meta.dimension, distance=Distance.Cosine)},
        sparse_vectors={SPARSE: EdgeSparseVectorParams(modifier=Modifier.Idf)},
        hnsw_config=HnswIndexConfig(
            m=tuning.hnsw_m,
            ef_construct=tuning.hnsw_ef_construct,
            full_scan_threshold=tuning.full_scan_threshold_kb,
        ),
        quantization_config=tuning.quantization_config(),
        optimizers=EdgeOptimizersConfig(
            indexing_threshold=tuning.indexing_threshold_kb,
            prevent_unoptimized=False,  # True would hide fresh points until the next optimize
        ),
    )


def _search_filter(flt: SearchFilter | None) -> Filter | None:
    conditions = search_conditions(flt)
    return None if conditions is None else _edge_filter(conditions)


def _edge_filter(conditions: Conditions) -> Filter:
    """The one translation of neutral conditions into edge filters."""

    def matches(pairs: tuple[tuple[str, tuple[str, ...]], ...]) -> list[Any] | None:
        return [FieldCondition(key=key, match=MatchAny(list(values))) for key, values in pairs] or None

    return Filter(must=matches(conditions.must), must_not=matches(conditions.must_not))


def _scored(points: Sequence[Any]) -> list[ScoredPoint]:
    return [
        ScoredPoint(
            id=str(p.id), score=float(p.score), payload=dict(p.payload or {}), vector=_dense_of(p.vector)
        )
        for p in points
    ]


def _dense(vector: np.ndarray) -> Any:
    """A float32 array: the engine takes numpy directly (the stubs only say list[float])."""
    return np.ascontiguousarray(vector, dtype=np.float32).reshape(-1)


def _dense_of(vectors: Any) -> np.ndarray | None:
    """The dense vector of a returned point, when the query asked for vectors."""
    if isinstance(vectors, dict) and DENSE in vectors:
        return np.asarray(vectors[DENSE], dtype=np.float32)
    return None


def _sparse(vector: SparseVector) -> EdgeSparseVector:
    return EdgeSparseVector(
        indices=[int(i) for i in vector.indices], values=[float(v) for v in vector.values]
    )


def _edge_point(point: Point) -> EdgePoint:
    vectors: dict[str, Any] = {DENSE: _dense(point.vector)}
    if point.sparse is not None and point.sparse.indices:
        vectors[SPARSE] = _sparse(point.sparse)
    return EdgePoint(point.id, vectors, dict(point.payload))
