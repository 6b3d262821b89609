"""A persistent embedding cache: the same model, prompt and text never go through the model twice.

Why: embedding is the whole cost of indexing on a CPU. Re-indexing a folder after
a collection was dropped, a second collection over the same files, or re-running
an evaluation would otherwise recompute identical vectors. Vectors are keyed by
(model key, prompt actually applied, sha256 of the text), so a different model,
revision, truncation length or prompt can never return a stale vector.

The store is one SQLite file (WAL, so the UI can read while an indexer writes;
one connection per instance behind a lock, so it is safe across threads).
``CachedEmbedder`` wraps any ``Embedder`` and sends all misses of a call to the
model in one batch, keeping the inner embedder's length-sorted batching.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from search.models.backends import PRECISION_ORDER
from search.models.embedder import Embedder, TokenizedDocuments
from search.models.specs import ModelSpec

log = logging.getLogger(__name__)

CACHE_FILENAME = "embeddings.sqlite3"
# 2: a rowid table (a 1.5 KB vector fits in its page; version 1's WITHOUT ROWID table put every
# vector in an overflow page of its own: 4.7 KB per passage on disk, now about 2 KB).
_SCHEMA_VERSION = 2
_LOOKUP_CHUNK = 500  # keys per SELECT ... IN (...), well under SQLite's variable limit


def model_key(spec: ModelSpec, max_tokens: int | None = None) -> str:
    """What decides a vector besides prompt and text: the weights (name, source, revision) and truncation."""
    tokens = max_tokens or spec.max_tokens
    return f"{spec.name}|{spec.source}|{spec.revision or '-'}|d{spec.dimension}|t{tokens}"


def variant_suffix(backend: str | None) -> str:
    """What a backend adds to the key: nothing for the backends that pass the quality gate (their
    vectors agree at cosine >= 0.999 with fp32, so they may answer for each other), its name for any
    other (int8 loses 1-2 points of nDCG@10: its vectors must never be served to a default run)."""
    if backend is None or backend in PRECISION_ORDER:
        return ""
    return f"|{backend}"


def text_digest(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


@dataclass(frozen=True)
class CacheStats:
    hits: int  # texts answered from the cache
    misses: int  # distinct texts sent to the model


class EmbeddingCache:
    """float32 vectors in SQLite keyed by (model key, prompt, text sha256).

    The cache is optional, so no state of its file ever stops a run: a file that is not a database
    or is damaged is moved aside (``embeddings.sqlite3.damaged``) and an empty cache started; a
    folder that is read-only, full or not ours turns the cache off for this process; a vector that
    is not finite (a poisoned or damaged entry) is never served, but embedded again. Each of these
    is said once, in one line naming the file (``disabled`` holds why the cache is off).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self.disabled: str | None = None
        self._warned_poison = False
        try:
            self._db = self._open()
        except (sqlite3.Error, OSError) as exc:
            if not _damage(exc):
                self._disable(exc)
                return
            self._set_aside(exc)

    @classmethod
    def in_dir(cls, cache_dir: Path) -> EmbeddingCache:
        return cls(cache_dir / CACHE_FILENAME)

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(str(self.path), timeout=30.0, check_same_thread=False, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across app crashes
            if db.execute("PRAGMA user_version").fetchone()[0] != _SCHEMA_VERSION:
                db.execute("DROP TABLE IF EXISTS vectors")  # a cache: rebuilt, never migrated
            db.execute(
                "CREATE TABLE IF NOT EXISTS vectors ("
                " model TEXT NOT NULL, prompt TEXT NOT NULL, text_sha BLOB NOT NULL, vector BLOB NOT NULL,"
                " UNIQUE (model, prompt, text_sha))"
            )
            db.execute(f"PRAGMA user_version={_SCHEMA_VERSION}")
            db.execute("SELECT model, prompt, text_sha, vector FROM vectors LIMIT 1").fetchall()
        except BaseException:
            db.close()
            raise
        return db

    def _set_aside(self, exc: BaseException) -> None:
        """A damaged file: moved aside (kept for a look), and an empty cache in its place."""
        if self._db is not None:
            self._db.close()
            self._db = None
        aside = self.path.with_name(self.path.name + ".damaged")
        try:
            os.replace(self.path, aside)
            for suffix in ("-wal", "-shm"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)
            self._db = self._open()
        except (sqlite3.Error, OSError) as again:
            self._disable(again)
            return
        log.warning(
            "embedding cache %s is damaged (%s): moved to %s, continuing with an empty cache",
            self.path,
            _reason(exc, self.path),
            aside.name,
        )

    def _disable(self, exc: BaseException) -> None:
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
            self._db = None
        self.disabled = _reason(exc, self.path)
        log.warning(
            "embedding cache %s cannot be used (%s): continuing without it (every text is embedded)",
            self.path,
            self.disabled,
        )

    def _failed(self, exc: BaseException) -> None:
        """An error in use: a damaged file is replaced by an empty one, anything else turns the cache off."""
        if _damage(exc):
            self._set_aside(exc)
        else:
            self._disable(exc)

    def get(
        self, model: str, prompt: str, digests: Sequence[bytes], dimension: int
    ) -> dict[bytes, np.ndarray]:
        """The cached vectors among ``digests``; entries of the wrong size or not finite are treated as missing."""
        found: dict[bytes, np.ndarray] = {}
        unique = list(dict.fromkeys(digests))
        poisoned = 0
        with self._lock:
            if self._db is None:
                return found
            try:
                for start in range(0, len(unique), _LOOKUP_CHUNK):
                    part = unique[start : start + _LOOKUP_CHUNK]
                    rows = self._db.execute(
                        "SELECT text_sha, vector FROM vectors WHERE model = ? AND prompt = ? "
                        f"AND text_sha IN ({','.join('?' * len(part))})",
                        (model, prompt, *part),
                    ).fetchall()
                    for digest, blob in rows:
                        vector = np.frombuffer(blob, dtype="<f4")
                        if vector.shape[0] != dimension:
                            continue
                        if not np.isfinite(vector).all():
                            poisoned += 1
                            continue
                        found[bytes(digest)] = vector
            except sqlite3.Error as exc:
                self._failed(exc)
                return {}
            if poisoned and not self._warned_poison:
                self._warned_poison = True
                log.warning(
                    "embedding cache %s holds NaN or infinite vectors (damaged or tampered with): "
                    "they are ignored and the texts embedded again",
                    self.path,
                )
        return found

    def put(self, model: str, prompt: str, items: Iterable[tuple[bytes, np.ndarray]]) -> None:
        rows = [
            (model, prompt, digest, vector.tobytes())
            for digest, v in items
            if np.isfinite(vector := np.asarray(v, dtype="<f4")).all()
        ]
        if not rows:
            return
        with self._lock:
            if self._db is None:
                return
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    self._db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?, ?, ?)", rows)
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:  # a full or read-only disk, a damaged file: the run goes on
                self._failed(exc)

    def count(self, model: str | None = None) -> int:
        with self._lock:
            if self._db is None:
                return 0
            if model is None:
                return int(self._db.execute("SELECT COUNT(*) FROM vectors").fetchone()[0])
            return int(
                self._db.execute("SELECT COUNT(*) FROM vectors WHERE model = ?", (model,)).fetchone()[0]
            )

    def forget(self, model: str) -> int:
        """Drop one model's vectors (e.g. a local model whose weights changed without a new revision)."""
        with self._lock:
            if self._db is None:
                return 0
            return self._db.execute("DELETE FROM vectors WHERE model = ?", (model,)).rowcount

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                with contextlib.suppress(sqlite3.Error):
                    self._db.close()
                self._db = None


# SQLite's result codes (Python 3.11+ exposes them as sqlite_errorname) that mean the file itself is bad.
_DAMAGE = frozenset({"SQLITE_CORRUPT", "SQLITE_NOTADB"})


def _damage(exc: BaseException) -> bool:
    name = getattr(exc, "sqlite_errorname", "") or ""
    if name.startswith("SQLITE_CORRUPT") or name in _DAMAGE:
        return True
    text = str(exc).lower()
    return (
        "not a database" in text
        or "malformed" in text
        or (isinstance(exc, sqlite3.OperationalError) and "no such column" in text)
    )


def _read_only_fs(path: Path | None) -> bool:
    try:
        return path is not None and bool(os.statvfs(path.parent).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _reason(exc: BaseException, path: Path | None = None) -> str:
    """Why, in words a user can act on."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    errno_ = getattr(exc, "errno", None)
    if name.startswith("SQLITE_FULL") or errno_ in (errno.ENOSPC, errno.EDQUOT):
        return "the disk holding it is full"
    if name.startswith("SQLITE_READONLY") or errno_ == errno.EROFS or _read_only_fs(path):
        return "it is on a read-only file system or not writable"
    if name.startswith(("SQLITE_CANTOPEN", "SQLITE_PERM", "SQLITE_AUTH")) or errno_ in (
        errno.EPERM,
        errno.EACCES,
    ):
        return "it cannot be opened for writing (permissions?)"
    return " ".join(str(exc).split())[:200] or type(exc).__name__


class CachedEmbedder:
    """An ``Embedder`` that answers from an ``EmbeddingCache`` and embeds only the misses, in one call."""

    def __init__(self, inner: Embedder, cache: EmbeddingCache, key: str | None = None) -> None:
        self._inner = inner
        self._cache = cache
        self._key = key or model_key(inner.spec, getattr(inner, "max_tokens", None))
        self._lock = threading.Lock()
        self._hits = 0
        self._misses = 0

    @property
    def spec(self) -> ModelSpec:
        return self._inner.spec

    @property
    def inner(self) -> Embedder:
        """The wrapped embedder (e.g. for a sparse encoder that needs the model's own tokenizer)."""
        return self._inner

    @property
    def key(self) -> str:
        return self._key

    def side_key(self, side: int) -> str:
        """The key of passages (0) or queries (1): the model key and the variant of the backend that
        embeds that side (an explicit int8 backend gets keys of its own)."""
        backends = getattr(self._inner, "backends", None)
        backend = str(backends[side]) if isinstance(backends, tuple) and len(backends) == 2 else None
        return self._key + variant_suffix(backend)

    def __getattr__(self, name: str) -> Any:
        """Anything else the wrapped embedder offers (``tokenize`` for the sparse encoder, ``max_tokens``...)."""
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._inner, name)

    @property
    def stats(self) -> CacheStats:
        return CacheStats(self._hits, self._misses)

    def encode_queries(self, texts: Sequence[str], task: str | None = None) -> np.ndarray:
        prompt = self.spec.query_prefix(task)
        return self._encode(texts, prompt, lambda miss: self._inner.encode_queries(miss, task=task), side=1)

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, self.spec.document_prompt, self._inner.encode_documents)

    def encode_documents_tokenized(self, texts: Sequence[str], ids: Sequence[Sequence[int]]) -> np.ndarray:
        """``encode_documents`` where the misses reach the model as the chunker's ids (when the inner
        embedder takes ids; else as text)."""
        inner = self._inner
        if not isinstance(inner, TokenizedDocuments):
            return self.encode_documents(texts)
        ids_of = dict(zip(texts, ids))

        def embed(miss: list[str]) -> np.ndarray:
            return inner.encode_documents_tokenized(miss, [ids_of[text] for text in miss])

        return self._encode(texts, self.spec.document_prompt, embed)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return self._inner.count_tokens(texts)

    def document_overhead(self) -> int:
        return self._inner.document_overhead()

    def _encode(
        self, texts: Sequence[str], prompt: str, embed: Callable[[list[str]], np.ndarray], side: int = 0
    ) -> np.ndarray:
        dim = self.spec.dimension
        out = np.empty((len(texts), dim), dtype=np.float32)
        if not texts:
            return out
        key = self.side_key(side)
        digests = [text_digest(t) for t in texts]
        found = self._cache.get(key, prompt, digests, dim)
        missing: dict[bytes, str] = {}  # digest -> text, each distinct text embedded once
        hits = 0
        for row, digest in enumerate(digests):
            vector = found.get(digest)
            if vector is None:
                missing.setdefault(digest, texts[row])
            else:
                out[row] = vector
                hits += 1
        if missing:
            vectors = np.asarray(embed(list(missing.values())), dtype=np.float32)
            fresh = dict(zip(missing, vectors))
            self._cache.put(key, prompt, fresh.items())
            for row, digest in enumerate(digests):
                if digest in fresh:
                    out[row] = fresh[digest]
        with self._lock:
            self._hits += hits
            self._misses += len(missing)
        return out
