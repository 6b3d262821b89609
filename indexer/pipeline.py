"""index_folder: files -> chunks -> vectors -> store, incremental and crash-safe.

The order of writes is what makes a killed run harmless: the new chunks of a
file are written before the stale ones are deleted, chunk ids are deterministic
(re-writing is idempotent) and a file only counts as indexed once all of its
``n_chunks`` are in the store. Resuming is simply running again.

Extraction and chunking run in a producer thread so the CPU-bound model never
waits for PDF parsing, and the model gets batches of chunks of similar length
(see _Writer), so the indexing rate stays close to the model's own.
"""

from __future__ import annotations

import contextlib
import errno
import os
import queue
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from itertools import accumulate
from pathlib import Path
from typing import Any

from indexer.chunking import chunk_document
from indexer.extract.formats import human_size
from indexer.extract.loaders import (
    Discovery,
    ExtractionError,
    LoaderConfig,
    UnreadableFileError,
    discover,
    load_parts,
)
from indexer.ocr.tally import OcrTally
from indexer.opened import NotRegularFileError, OutsideRootError, open_checked
from indexer.recenter import recenter
from search.core.errors import NotAFolderError
from search.core.memory import trim_heap
from search.core.reports import (
    BUILDING_STAGE,
    IndexInterrupted,
    IndexProgress,
    IndexReport,
    ProgressFn,
    SkippedFile,
)
from search.core.types import Chunk, Document, SparseVector, relative_source
from search.models.embedder import Embedder, TokenizedDocuments
from search.models.language_bias import FittedMeans, LanguageCentering
from search.space.vector_space import Chunking, VectorSpace
from search.stores.base import Point, VectorStore
from search.stores.payload import FILE_STATE_FIELDS, StoredChunkState, encode_chunk
from search.text.sparse import SparseEncoder

PRODUCER_GRACE_S = 0.25  # how long the model waits for the next file before embedding a partial pool


@dataclass(frozen=True)
class IndexConfig:
    chunk_tokens: int = 256  # longest chunk in model tokens, prompt included
    overlap_tokens: int = 32
    batch_size: int = 64  # chunks per embed + write round trip
    # Chunks wait in a pool of this many batches so each batch can be cut from chunks of
    # similar token length. Padding in the tokens embedded (generated 100-file multilingual
    # folder, 621 chunks): 21 % in arrival-order batches of 64, 6 % with a pool of 4 batches,
    # 3.4 % with 8, 3.1 % sorting all; forward time follows the padded token count.
    sort_batches: int = 8
    queue_files: int = 8  # documents buffered between extraction and embedding
    loader: LoaderConfig = field(default_factory=LoaderConfig)
    optimize: bool = True  # build the ANN index after the run
    reuse_token_ids: bool = True  # the model gets the chunker's ids (off: it tokenises the text, as before)
    # Added to the producer thread's nice value (Linux schedules threads separately): on two cores the model's
    # threads get the CPU first, and the producer still has it all whenever the model waits for work.
    producer_nice: int = 10

    def with_max_file_mb(self, mb: float) -> IndexConfig:
        """Raise or lower the size cap on text files (the only formats read whole into memory)."""
        return replace(self, loader=replace(self.loader, max_text_bytes=int(mb * 1024 * 1024)))


@dataclass
class _FileState:
    """What the store holds for one source: chunk count per version, and how many each version should have."""

    counts: Counter[str] = field(default_factory=Counter)
    expected: dict[str, int] = field(default_factory=dict)

    def complete(self, content_hash: str) -> bool:
        return set(self.counts) == {content_hash} and self.counts[content_hash] == self.expected[content_hash]


@dataclass(frozen=True)
class _Parsed:
    """One file's chunks on their way from the producer to the writer (or why there are none)."""

    source: str
    content_hash: str
    chunks: tuple[Chunk, ...] = ()
    error: str | None = None
    keep: bool = False  # the file is there but could not be read now: keep its indexed chunks
    unchanged: bool = False  # indexed before with this content: nothing to do
    last: bool = True  # the file's last (usually only) part: its chunks complete the file
    sparse: tuple[SparseVector, ...] = ()  # the chunks' BM25 vectors, when the run writes them


@dataclass
class _Timer:
    totals: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, stage: str, seconds: float) -> None:
        with self.lock:
            self.totals[stage] += seconds


def prepare_collection(store: VectorStore, collection: str, space: VectorSpace) -> None:
    """Create the collection in ``space``, or check that this run would write comparable chunks into it."""
    meta = store.get_meta(collection)
    if meta is None:
        store.create_collection(collection, space.meta())
        return
    space.check(meta, collection)


def _existing_state(store: VectorStore, collection: str, root: str) -> dict[str, _FileState]:
    prefix = root.rstrip("/") + "/"
    state: dict[str, _FileState] = defaultdict(_FileState)
    for _, payload in store.iter_payloads(collection, FILE_STATE_FIELDS):
        stored = StoredChunkState.decode(payload)
        if not stored.source.startswith(prefix):
            continue
        entry = state[stored.source]
        entry.counts[stored.doc_hash] += 1
        # A long file's chunks record its total only in the last part (the others record 0).
        entry.expected[stored.doc_hash] = max(entry.expected.get(stored.doc_hash, 0), stored.n_chunks)
    return dict(state)


def index_folder(
    folder: Path,
    space: VectorSpace,
    store: VectorStore,
    collection: str,
    *,
    config: IndexConfig | None = None,
    progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
) -> IndexReport:
    """Bring ``collection`` in line with ``folder``: new and changed files indexed, deleted ones removed."""
    config = config or IndexConfig()
    root_path = Path(os.path.abspath(folder))
    if not root_path.is_dir():
        raise NotAFolderError(f"not a folder: {folder}")
    run = _Run(space, store, collection, config, root_path.as_posix(), progress, cancel)
    config = run.config  # its OCR reports pages to this run

    t0 = time.perf_counter()
    found: Discovery = discover(root_path, config.loader)
    state = _existing_state(store, collection, run.root)
    run.timer.add("discover", time.perf_counter() - t0)

    present = {Path(entry.path).as_posix() for entry in found.files}
    # Unreadable now (permissions, I/O) but not deleted: their chunks stay, and so do those of every file
    # below an unreadable folder. Skipped for any other reason (a link out of the folder, too large...):
    # no longer served.
    kept = {Path(s.path).as_posix() for s in found.skipped if s.transient}
    present |= kept
    removed = sorted(
        source
        for source in state
        if source not in present and not any(source.startswith(k + "/") for k in kept)
    )
    if removed:
        t0 = time.perf_counter()
        store.delete_sources(collection, removed)
        run.timer.add("write", time.perf_counter() - t0)
    for skipped in found.skipped:
        run.skipped.append(
            SkippedFile(relative_source(Path(skipped.path).as_posix(), run.root), run.shown(skipped.reason))
        )

    chunker = _Chunker(space.embedder, config, run.timer, space.sparse)
    run.sizes.update({Path(entry.path).as_posix(): max(1, entry.size) for entry in found.files})

    def produce(out: queue.Queue[_Parsed | BaseException | None], stop: threading.Event) -> None:
        _produce(found, root_path, state, chunker, config, run.timer, out, stop, run.cancel)

    return run.execute(
        produce,
        total=len(found.files),
        state=state,
        removed=removed,
        files_seen=len(found.files) + len(found.skipped),
        unsupported=found.unsupported,
        ignored=found.ignored,
        unsupported_files=tuple(
            relative_source(Path(p).as_posix(), run.root) for p in found.unsupported_examples
        ),
    )


def index_documents(
    documents: Iterable[Document],
    space: VectorSpace,
    store: VectorStore,
    collection: str,
    *,
    config: IndexConfig | None = None,
    progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
) -> IndexReport:
    """Chunk, embed and write Documents that are already in memory (query-set corpora, tests).

    No walking, hashing or skipping of unchanged files: every document given is
    written, through the same engine as ``index_folder``.
    """
    config = config or IndexConfig()
    docs = list(documents)
    roots = {doc.root for doc in docs}
    root = roots.pop() if len(roots) == 1 else ""
    run = _Run(space, store, collection, config, root, progress, cancel)
    run.display.update({doc.source: doc.relpath for doc in docs})
    run.sizes.update({doc.source: max(1, len(doc.text.encode("utf-8"))) for doc in docs})
    chunker = _Chunker(space.embedder, config, run.timer, space.sparse)

    def produce(out: queue.Queue[_Parsed | BaseException | None], stop: threading.Event) -> None:
        try:
            for doc in docs:
                if stop.is_set() or run.cancel.is_set():
                    break
                chunks, sparse_vectors = chunker(doc)
                parsed = _Parsed(doc.source, doc.content_hash, chunks, sparse=sparse_vectors)
                _put(out, parsed if chunks else replace(parsed, error="no text to index"), stop)
        except BaseException as exc:  # noqa: BLE001 - a bug: surface it in the caller's thread
            _put(out, exc, stop, force=True)
        finally:
            _put(out, None, stop, force=True)

    return run.execute(produce, total=len(docs), files_seen=len(docs))


class _Run:
    """The one indexing engine: a producer thread feeds parsed files, the model embeds them in
    length-matched batches, the store gets them, and a report says what happened."""

    def __init__(
        self,
        space: VectorSpace,
        store: VectorStore,
        collection: str,
        config: IndexConfig,
        root: str,
        progress: ProgressFn | None,
        cancel: threading.Event | None,
    ) -> None:
        self.started = time.perf_counter()
        embedder, sparse = space.embedder, space.sparse
        self.embedder, self.store, self.collection = embedder, store, collection
        self.ocr = OcrTally(self.rel, on_page=self.report_progress)
        if config.loader.ocr is not None:
            config = replace(
                config, loader=replace(config.loader, ocr=config.loader.ocr.with_listener(self.ocr))
            )
        self.config = config
        self._progress_lock = threading.Lock()  # the producer reports OCR'd pages, the writer files
        self.root = root
        self.progress = progress
        self.cancel = cancel or threading.Event()  # the caller's; only read
        self.timer = _Timer()
        self.skipped: list[SkippedFile] = []
        self.display: dict[str, str] = {}  # source -> path shown in reports (default: relative to root)
        self.settled = 0  # files done without the model: unchanged, or skipped with a reason
        self.total = 0
        self.current = ""
        self.sizes: dict[str, int] = {}  # source -> bytes of work, until the file is done
        self.work_total = 0
        self.work_finished = 0  # bytes of the files done (indexed, unchanged or skipped)
        self.work_settled = 0  # of those, the files that needed no model
        prepare_collection(
            store, collection, space.with_chunking(Chunking(config.chunk_tokens, config.overlap_tokens))
        )
        self.correction = space.correction
        means = None
        if self.correction is not None and self.correction.fitted:
            meta = store.get_meta(collection)
            means = FittedMeans.from_json(meta.language_means if meta else None)
        self.writer = _Writer(
            embedder,
            store,
            collection,
            sparse,
            config,
            self.timer,
            on_write=self.report_progress,
            correction=space.correction,
            means=means,
        )
        self.deleted = False  # chunks were removed (files gone or skipped): the language means may move

    def rel(self, source: str) -> str:
        return self.display.get(source) or relative_source(source, self.root)

    def shown(self, reason: str) -> str:
        """A skip reason with the server's paths below the root made relative: a parser's message
        may name the file, and reports reach browsers, which must not learn where things live."""
        if not self.root:
            return reason
        for root in dict.fromkeys((self.root, os.path.realpath(self.root))):
            reason = reason.replace(root.rstrip("/") + "/", "")
        return reason

    def report_progress(self, finished: Sequence[str] = (), settled: bool = False) -> None:
        """Files count as done once all their chunks are written (or they needed none); the work
        moves with every batch written (see IndexProgress.work_done)."""
        with self._progress_lock:
            for source in finished:
                size = self.sizes.pop(source, 0)
                self.work_finished += size
                if settled:
                    self.work_settled += size
            if self.progress and hasattr(self, "writer"):
                if self.writer.current:
                    self.current = self.rel(self.writer.current)
                elif finished:
                    self.current = self.rel(finished[-1])
                done = self.settled + self.writer.completed
                partial = self.writer.partial_work(self.sizes)
                self.progress(
                    IndexProgress(
                        done,
                        self.total,
                        self.writer.written,
                        self.current,
                        pages_ocr=self.ocr.pages,
                        work_done=min(self.work_total, self.work_finished + int(partial)),
                        work_total=self.work_total,
                        work_settled=self.work_settled,
                    )
                )

    def drop(self, item: _Parsed, state: Mapping[str, _FileState]) -> None:
        """A file skipped with a reason, perhaps after some of its parts were already written."""
        partial = self.writer.discard(item.source)  # chunks of the new version are in the store
        known = state.get(item.source)
        self.deleted = self.deleted or partial or (known is not None and not item.keep)
        if known is not None and not item.keep:  # the indexed version no longer exists
            self.store.delete_sources(self.collection, [item.source])
        elif partial:
            older = set(known.counts) - {item.content_hash} if known is not None else set()
            if len(older) == 1:  # back to the version indexed before
                self.store.delete_stale(self.collection, item.source, older.pop())
            else:
                self.store.delete_sources(self.collection, [item.source])

    def execute(
        self,
        produce: Callable[[queue.Queue[_Parsed | BaseException | None], threading.Event], None],
        *,
        total: int,
        files_seen: int,
        state: Mapping[str, _FileState] | None = None,
        removed: Sequence[str] = (),
        unsupported: int = 0,
        ignored: int = 0,
        unsupported_files: tuple[str, ...] = (),
    ) -> IndexReport:
        self.total = total
        self.work_total = sum(self.sizes.values())
        state = state or {}
        parsed: queue.Queue[_Parsed | BaseException | None] = queue.Queue(maxsize=self.config.queue_files)
        stop = threading.Event()  # ours: tells the producer the consumer has gone away
        producer = threading.Thread(
            target=_yielding(produce, self.config.producer_nice),
            args=(parsed, stop),
            name="index-extract",
            daemon=True,
        )
        producer.start()
        self.report_progress()  # the run has started: the total is known before the first batch is written
        indexed: list[str] = []
        unchanged = 0
        interrupted = False
        try:
            while not self.cancel.is_set():
                item = _next_parsed(parsed, self.writer)
                if item is None:
                    break
                if isinstance(item, BaseException):
                    raise item
                if item.unchanged:
                    unchanged += 1
                    self.settled += 1
                    self.report_progress([item.source], settled=True)
                elif item.error is not None:
                    self.skipped.append(SkippedFile(self.rel(item.source), self.shown(item.error)))
                    self.drop(item, state)
                    self.settled += 1
                    self.report_progress([item.source], settled=True)
                else:
                    if item.last:
                        indexed.append(item.source)
                    self.writer.add(item)
            self.writer.flush(self.cancel)
        except KeyboardInterrupt:
            # Ctrl-C: what is written stays consistent (a file counts once all its chunks are in);
            # stop here and report the complete files instead of a traceback.
            interrupted = True
        finally:
            stop.set()
            _drain(parsed)
            # After Ctrl-C do not wait long for a file still being parsed: the thread is a daemon.
            producer.join(timeout=PRODUCER_GRACE_S * 8 if interrupted else None)
        if not (interrupted or self.cancel.is_set()):
            try:
                self.refit(removed)
            except KeyboardInterrupt:
                interrupted = True  # every chunk records its mean: the next run finishes the refit
        if self.config.optimize and not (interrupted or self.cancel.is_set()):
            if self.progress:  # can take a while on a large collection: say what is happening
                done = self.settled + self.writer.completed
                self.progress(
                    IndexProgress(
                        done,
                        self.total,
                        self.writer.written,
                        "",
                        BUILDING_STAGE,
                        pages_ocr=self.ocr.pages,
                        work_done=self.work_total,
                        work_total=self.work_total,
                        work_settled=self.work_settled,
                    )
                )
            try:
                t0 = time.perf_counter()
                self.store.optimize(self.collection)
                self.timer.add("optimize", time.perf_counter() - t0)
            except KeyboardInterrupt:
                interrupted = True  # every file is in; the store finishes the index on the next run
        timings = {stage: round(seconds, 3) for stage, seconds in self.timer.totals.items()}
        timings["total"] = round(time.perf_counter() - self.started, 3)
        report = IndexReport(
            root=self.root,
            collection=self.collection,
            model=self.embedder.spec.name,
            files_seen=files_seen,
            indexed=tuple(self.rel(s) for s in indexed if s not in self.writer.unfinished),
            unchanged=unchanged,
            removed=tuple(self.rel(s) for s in removed),
            skipped=tuple(sorted(self.skipped, key=lambda s: s.path)),
            unsupported=unsupported,
            unsupported_files=unsupported_files,
            ignored=ignored,
            chunks_written=self.writer.written,
            chunks_by_language=dict(self.writer.languages),
            timings=timings,
            cancelled=self.cancel.is_set() or interrupted,
            ocr=self.ocr.summary(self.writer.languages),
        )
        if interrupted:
            raise IndexInterrupted(report)
        return report

    def refit(self, removed: Sequence[str]) -> None:
        """The collection's language means refitted to its chunks, its vectors re-corrected where they
        moved (indexer/recenter.py): after a run that wrote or removed chunks, or after one that was
        stopped before it could (the chunks counted then differ from the collection's, or means of a
        refit stopped halfway are still recorded)."""
        correction = self.correction
        if correction is None or not correction.fitted:
            return
        if not (self.writer.written or removed or self.deleted):
            meta = self.store.get_meta(self.collection)
            means = FittedMeans.from_json(meta.language_means if meta else None)
            unfinished = set(means.vectors) - set(means.current.values())  # a refit was stopped halfway
            if not unfinished and sum(means.counts.values()) == self.store.count(self.collection):
                return
        t0 = time.perf_counter()
        recenter(self.store, self.collection, correction)
        self.timer.add("recenter", time.perf_counter() - t0)


def chunk_budget(embedder: Embedder, config: IndexConfig) -> int:
    """Tokens left for chunk text once the document prompt and special tokens are paid for."""
    limit = min(config.chunk_tokens, embedder.spec.max_tokens)
    budget = limit - embedder.document_overhead()
    if budget < 16:
        raise ValueError(f"chunk size {config.chunk_tokens} leaves only {budget} tokens after the prompt")
    return budget


class _Chunker:
    """A document's chunks and their BM25 vectors: the producer's share of the work.

    BM25 tokenises the lower-cased text (its ids differ from the model's), so it cannot
    reuse the chunker's ids; it runs here, beside the model, instead of between two
    forward passes on the model's thread.
    """

    def __init__(
        self, embedder: Embedder, config: IndexConfig, timer: _Timer, sparse: SparseEncoder | None
    ) -> None:
        self._embedder = embedder
        self._config = config
        self._timer = timer
        self._sparse = sparse
        self._budget = chunk_budget(embedder, config)

    def __call__(
        self, doc: Document, first_position: int = 0, n_chunks: int | None = None
    ) -> tuple[tuple[Chunk, ...], tuple[SparseVector, ...]]:
        t0 = time.perf_counter()
        chunks = chunk_document(
            doc,
            self._embedder,
            self._budget,
            self._config.overlap_tokens,
            first_position=first_position,
            n_chunks=n_chunks,
            detector=self._config.loader.language_detector,
        )
        self._timer.add("chunk", time.perf_counter() - t0)
        if self._sparse is None or not chunks:
            return tuple(chunks), ()
        t0 = time.perf_counter()
        sparse = tuple(self._sparse.encode_documents([chunk.text for chunk in chunks]))
        self._timer.add("sparse", time.perf_counter() - t0)
        return tuple(chunks), sparse


def _produce(
    found: Discovery,
    root: Path,
    state: Mapping[str, _FileState],
    chunker: _Chunker,
    config: IndexConfig,
    timer: _Timer,
    out: queue.Queue[_Parsed | BaseException | None],
    stop: threading.Event,
    cancel: threading.Event,
) -> None:
    """Open each file once, hash, skip unchanged, extract and chunk; runs beside the embedding loop.

    The file is opened once and checked by its descriptor (indexer.opened): the hash and every
    parser read that open file, so a symlink renamed over the path after the walk can bring
    nothing from outside the folder into the index.
    """
    real_root = os.path.realpath(root)
    try:
        for entry in found.files:
            if stop.is_set() or cancel.is_set():
                break
            source = Path(entry.path).as_posix()
            t0 = time.perf_counter()
            try:
                opened = open_checked(Path(entry.path), real_root)
            except OSError as exc:
                timer.add("hash", time.perf_counter() - t0)
                _put(out, _unopened(source, exc), stop)
                continue
            with opened:
                limit = config.loader.size_limit(entry.format)
                if opened.size > limit:  # grown or swapped since the walk: never hashed whole
                    reason = f"too large: {human_size(opened.size)} (limit for {entry.format} is {human_size(limit)})"
                    _put(out, _Parsed(source, "", error=reason), stop)
                    continue
                try:
                    content_hash = opened.sha256()
                except OSError as exc:  # I/O, perhaps passing: what is indexed stays
                    timer.add("hash", time.perf_counter() - t0)
                    _put(out, _unopened(source, exc), stop)
                    continue
                timer.add("hash", time.perf_counter() - t0)
                known = state.get(source)
                if known is not None and known.complete(content_hash):
                    _put(out, _Parsed(source, content_hash, unchanged=True), stop)
                    continue
                _produce_file(
                    Path(entry.path),
                    root,
                    content_hash,
                    chunker,
                    config,
                    timer,
                    out,
                    stop,
                    cancel,
                    reader=opened.path,
                )
    except BaseException as exc:  # noqa: BLE001 - a bug, not a bad file: surface it in the caller's thread
        _put(out, exc, stop, force=True)
    finally:
        _put(out, None, stop, force=True)


def _unopened(source: str, exc: OSError) -> _Parsed:
    """Why a file could not be opened (or read) since the walk, and whether its indexed chunks stay:
    only for a passing failure (permissions, I/O); a link out of the folder, a file gone or
    replaced by a device loses them."""
    if isinstance(exc, (OutsideRootError, NotRegularFileError)):
        return _Parsed(source, "", error=str(exc.strerror))
    if isinstance(exc, FileNotFoundError):
        return _Parsed(source, "", error="disappeared while indexing")
    if exc.errno == errno.ELOOP:
        return _Parsed(source, "", error="symlink loop: the link resolves to itself")
    return _Parsed(source, "", error=f"unreadable: {exc.strerror or exc}", keep=True)


def _produce_file(
    path: Path,
    root: Path,
    content_hash: str,
    chunker: _Chunker,
    config: IndexConfig,
    timer: _Timer,
    out: queue.Queue[_Parsed | BaseException | None],
    stop: threading.Event,
    cancel: threading.Event,
    reader: Path | None = None,
) -> None:
    """Extract and chunk one file, part by part (one part unless it is a long text file).

    Each part's chunks go to the writer as soon as the next part is known to exist, so a
    long file is never held whole; the last part's chunks carry the file's total (n_chunks),
    the earlier ones 0, and the store takes the largest as what a complete file must have.
    """
    source = path.as_posix()
    parts = iter(load_parts(path, root, config.loader, content_hash=content_hash, reader=reader))
    held: _Parsed | None = None
    position = 0
    while not (stop.is_set() or cancel.is_set()):
        t0 = time.perf_counter()
        try:
            part = next(parts, None)
        except ExtractionError as exc:
            timer.add("extract", time.perf_counter() - t0)
            keep = isinstance(exc, UnreadableFileError)
            _put(out, _Parsed(source, content_hash, error=str(exc), keep=keep), stop)
            return
        timer.add("extract", time.perf_counter() - t0)
        if part is None:
            break
        chunks, sparse = chunker(part, first_position=position, n_chunks=0)
        position += len(chunks)
        if chunks:
            if held is not None:
                _put(out, held, stop)
            held = _Parsed(source, content_hash, chunks, last=False, sparse=sparse)
    else:
        return  # cancelled, or the consumer has gone: the file stays unfinished
    if held is None:
        _put(out, _Parsed(source, content_hash, error="no text to index"), stop)
        return
    final = tuple(replace(chunk, n_chunks=position) for chunk in held.chunks)
    _put(out, replace(held, chunks=final, last=True), stop)


def _yielding(
    produce: Callable[[queue.Queue[_Parsed | BaseException | None], threading.Event], None], nice: int
) -> Callable[[queue.Queue[_Parsed | BaseException | None], threading.Event], None]:
    """``produce`` run at a lower priority than the model: extraction must not slow the forward pass.

    A CPU-bound model runs one thread per core; a producer taking one of them makes the whole
    parallel forward wait for the preempted thread. Lowered, it runs in the model's gaps and
    whenever the model is waiting for chunks. Only this thread is affected (Linux keeps nice
    values per thread); where that is not possible, it runs at normal priority.
    """

    def run(out: queue.Queue[_Parsed | BaseException | None], stop: threading.Event) -> None:
        if nice > 0 and hasattr(os, "setpriority"):
            thread = threading.get_native_id()
            with contextlib.suppress(OSError):
                os.setpriority(
                    os.PRIO_PROCESS, thread, min(19, os.getpriority(os.PRIO_PROCESS, thread) + nice)
                )
        produce(out, stop)

    return run


def _next_parsed(
    parsed: queue.Queue[_Parsed | BaseException | None], writer: _Writer
) -> _Parsed | BaseException | None:
    """The next file from the producer; when none comes for a while, the model embeds what is pending.

    Without this the model would sit idle whenever one big file holds up extraction.
    The grace period keeps it from embedding every time the queue is momentarily
    empty: batches cut from a barely-full pool are poorly matched in length (21 % of
    the embedded tokens were padding that way, 3.4 % with the pool full; see IndexConfig).
    """
    while True:
        try:
            return parsed.get(timeout=PRODUCER_GRACE_S)
        except queue.Empty:
            if not writer.write_one():
                return parsed.get()


def _put(out: queue.Queue[Any], item: object, stop: threading.Event, force: bool = False) -> None:
    """Block on a full queue, but give up when the consumer has gone away (cancel or error)."""
    while True:
        try:
            out.put(item, timeout=0.1)
            return
        except queue.Full:
            if stop.is_set() and not force:
                return
            if stop.is_set():
                _drain(out)


def _drain(q: queue.Queue[Any]) -> None:
    try:
        while True:
            q.get_nowait()
    except queue.Empty:
        pass


class _Writer:
    """Embeds chunks in batches across file boundaries and retires stale versions of finished files.

    Batches are cut from a pool of pending chunks (``sort_batches`` batches) as the run of
    ``batch_size`` chunks of most similar length, so little of the model's work is padding.
    Order does not matter for safety: a file's stale version goes only once all its new
    chunks are written, whenever that is.
    """

    def __init__(
        self,
        embedder: Embedder,
        store: VectorStore,
        collection: str,
        sparse: SparseEncoder | None,
        config: IndexConfig,
        timer: _Timer,
        on_write: Callable[[Sequence[str]], None] | None = None,
        correction: LanguageCentering | None = None,
        means: FittedMeans | None = None,
    ) -> None:
        self._embedder = embedder
        self._reuse_ids = config.reuse_token_ids
        self._correction = correction
        self._means = means  # the collection's fitted language means (a fitted correction only)
        self._on_write = on_write  # called after each batch with the sources it finished
        self._store = store
        self._collection = collection
        self._sparse = sparse
        self._batch_size = max(1, config.batch_size)
        self._pool_size = self._batch_size * max(1, config.sort_batches)
        self._timer = timer
        self._pending: list[Chunk] = []
        self._sparse_of: dict[str, SparseVector] = {}  # chunk id -> BM25 vector the producer made
        self._remaining: dict[str, int] = {}  # source -> chunks not yet written
        self._open: set[str] = set()  # sources whose last part has not arrived yet
        self._started: set[str] = set()  # sources with chunks written by this run
        self._hashes: dict[str, str] = {}
        self._arrived: Counter[str] = Counter()  # source -> chunks received so far (all parts)
        self._arrived_bytes: Counter[str] = Counter()  # source -> UTF-8 bytes of their text
        self.current = ""  # the file of the last batch written, while unfinished
        self.written = 0
        self.completed = 0  # files whose chunks are all written
        self.languages: Counter[str] = Counter()

    def add(self, parsed: _Parsed) -> None:
        """A file's chunks, or one part's: the file is finished once its last part's are written."""
        self._remaining[parsed.source] = self._remaining.get(parsed.source, 0) + len(parsed.chunks)
        self._arrived[parsed.source] += len(parsed.chunks)
        self._arrived_bytes[parsed.source] += sum(len(chunk.text.encode("utf-8")) for chunk in parsed.chunks)
        self._hashes[parsed.source] = parsed.content_hash
        if parsed.last:
            self._open.discard(parsed.source)
        else:
            self._open.add(parsed.source)
        self._pending.extend(parsed.chunks)
        self._sparse_of.update(zip((chunk.id for chunk in parsed.chunks), parsed.sparse))
        while len(self._pending) >= self._pool_size:
            self._write(self._take_matched())

    def discard(self, source: str) -> bool:
        """Forget a file that failed part-way; True when some of its chunks were already written."""
        for chunk in self._pending:
            if chunk.source == source:
                self._sparse_of.pop(chunk.id, None)
        self._pending = [chunk for chunk in self._pending if chunk.source != source]
        self._remaining.pop(source, None)
        self._hashes.pop(source, None)
        self._arrived.pop(source, None)
        self._arrived_bytes.pop(source, None)
        self._open.discard(source)
        return source in self._started

    def partial_work(self, sizes: Mapping[str, int]) -> float:
        """Bytes of work the written chunks of unfinished files stand for (``sizes``: bytes per file).

        Called from the producer's thread too (OCR'd pages): reads a snapshot of the files in flight.
        """
        in_flight = tuple(self._arrived)  # one C-level copy: safe beside the model's thread
        return sum(self.share_written(source, sizes.get(source, 0)) for source in in_flight)

    def share_written(self, source: str, size: int) -> float:
        """The part of a file's ``size`` (bytes of work) its written chunks stand for, before it is done.

        All parts in: the share of its chunks written. A long text file still arriving part by part:
        as much of the file as the text of its written chunks, at most 95 % (its size is known, its
        chunk count is not until the last part).
        """
        arrived = self._arrived.get(source, 0)
        if not arrived or not size:
            return 0.0
        written = arrived - self._remaining.get(source, 0)
        if source in self._open:
            seen = min(0.95, self._arrived_bytes.get(source, 0) / size)
            return size * seen * written / arrived
        return size * written / arrived

    @property
    def unfinished(self) -> set[str]:
        """Sources with chunks not yet written (only after a cancelled run)."""
        return set(self._remaining)

    def write_one(self) -> bool:
        """Embed and write one batch if a full one is pending (the producer is behind)."""
        if len(self._pending) < self._batch_size:
            return False
        self._write(self._take_matched())
        return True

    def flush(self, cancel: threading.Event | None = None) -> None:
        """Write everything pending, unless cancelled (the pool holds many batches of work)."""
        pending, self._pending = sorted(self._pending, key=_length, reverse=True), []
        for start in range(0, len(pending), self._batch_size):
            if cancel is not None and cancel.is_set():
                return
            self._write(pending[start : start + self._batch_size])

    def _take_matched(self) -> list[Chunk]:
        """Remove and return the ``batch_size`` pending chunks that pad least when batched together."""
        pending = sorted(self._pending, key=_length, reverse=True)
        lengths = [_length(chunk) for chunk in pending]
        take = self._batch_size
        sums = [0, *accumulate(lengths)]
        # Padded to its longest (first) chunk, run i wastes take * lengths[i] - its own tokens.
        best = min(
            range(len(pending) - take + 1), key=lambda i: take * lengths[i] - (sums[i + take] - sums[i])
        )
        self._pending = pending[:best] + pending[best + take :]
        return pending[best : best + take]

    def _write(self, batch: Sequence[Chunk]) -> None:
        texts = [chunk.text for chunk in batch]
        t0 = time.perf_counter()
        vectors = self._embed(batch, texts)
        means: Sequence[str | None] = [None] * len(batch)
        if self._correction is not None:  # after the embedding cache: it keeps the model's own vectors
            languages = [chunk.language for chunk in batch]
            vectors, used = self._correction.correct(vectors, languages, self._means)
            if self._correction.fitted:
                means = used
        self._timer.add("embed", time.perf_counter() - t0)
        sparse_vectors: Sequence[Any] = [None] * len(batch)
        if self._sparse is not None:
            made = [self._sparse_of.pop(chunk.id, None) for chunk in batch]
            if all(vector is not None for vector in made):
                sparse_vectors = made
            else:  # chunks from a producer without the encoder
                t0 = time.perf_counter()
                sparse_vectors = self._sparse.encode_documents(texts)
                self._timer.add("sparse", time.perf_counter() - t0)
        points = [
            Point(id=chunk.id, vector=vector, payload=encode_chunk(chunk, mean), sparse=sv)
            for chunk, vector, sv, mean in zip(batch, vectors, sparse_vectors, means)
        ]
        t0 = time.perf_counter()
        self._store.upsert(self._collection, points)
        self.written += len(batch)
        self.languages.update(chunk.language for chunk in batch)
        self._started.update(chunk.source for chunk in batch)
        finished = list(_finished(batch, self._remaining, self._open))
        for source in finished:
            self._store.delete_stale(self._collection, source, self._hashes.pop(source))
            self._arrived.pop(source, None)
            self._arrived_bytes.pop(source, None)
        unfinished = [chunk.source for chunk in batch if chunk.source in self._remaining]
        self.current = unfinished[-1] if unfinished else ""
        self.completed += len(finished)
        trim_heap()  # this batch's tensors and the text extracted meanwhile: freed, given back (a few ms)
        self._timer.add("write", time.perf_counter() - t0)
        if self._on_write is not None:
            self._on_write(finished)

    def _embed(self, batch: Sequence[Chunk], texts: list[str]) -> Any:
        """The chunker's token ids go to the model when it takes them: one tokenisation less per chunk."""
        embedder = self._embedder
        ids = [chunk.token_ids for chunk in batch]
        if self._reuse_ids and isinstance(embedder, TokenizedDocuments) and all(i is not None for i in ids):
            return embedder.encode_documents_tokenized(texts, [i or () for i in ids])
        return embedder.encode_documents(texts)


def _length(chunk: Chunk) -> int:
    """Tokens the chunker counted; characters / 4 for chunks built without a count."""
    return chunk.tokens or len(chunk.text) // 4


def _finished(batch: Sequence[Chunk], remaining: dict[str, int], still_open: set[str]) -> Iterator[str]:
    for chunk in batch:
        remaining[chunk.source] -= 1
        if remaining[chunk.source] == 0 and chunk.source not in still_open:
            del remaining[chunk.source]
            yield chunk.source
