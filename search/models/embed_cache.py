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

import hashlib
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from search.core.optional_sqlite import OptionalSqlite
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

    The cache is optional (``OptionalSqlite``): a damaged file is set aside, a read-only, full or
    foreign folder turns it off, each said in one line naming the file; a vector that is not
    finite (a poisoned or damaged entry) is never served, but embedded again.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = OptionalSqlite(path, "embedding cache", _setup)
        self._warned_poison = False

    @classmethod
    def in_dir(cls, cache_dir: Path) -> EmbeddingCache:
        return cls(cache_dir / CACHE_FILENAME)

    @property
    def disabled(self) -> str | None:
        """Why the cache is off (None while it works)."""
        return self._file.disabled

    def get(
        self, model: str, prompt: str, digests: Sequence[bytes], dimension: int
    ) -> dict[bytes, np.ndarray]:
        """The cached vectors among ``digests``; entries of the wrong size or not finite are treated as missing."""
        unique = list(dict.fromkeys(digests))

        def read(db: sqlite3.Connection) -> tuple[dict[bytes, np.ndarray], int]:
            found: dict[bytes, np.ndarray] = {}
            poisoned = 0
            for start in range(0, len(unique), _LOOKUP_CHUNK):
                part = unique[start : start + _LOOKUP_CHUNK]
                rows = db.execute(
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
            return found, poisoned

        nothing: tuple[dict[bytes, np.ndarray], int] = ({}, 0)
        found, poisoned = self._file.run(read, nothing)
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
        if rows:
            self._file.write(
                lambda db: db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?, ?, ?)", rows)
            )

    def count(self, model: str | None = None) -> int:
        if model is None:
            return self._file.run(lambda db: int(db.execute("SELECT COUNT(*) FROM vectors").fetchone()[0]), 0)
        return self._file.run(
            lambda db: int(
                db.execute("SELECT COUNT(*) FROM vectors WHERE model = ?", (model,)).fetchone()[0]
            ),
            0,
        )

    def forget(self, model: str) -> int:
        """Drop one model's vectors (e.g. a local model whose weights changed without a new revision)."""
        return self._file.run(
            lambda db: int(db.execute("DELETE FROM vectors WHERE model = ?", (model,)).rowcount), 0
        )

    def close(self) -> None:
        self._file.close()


def _setup(db: sqlite3.Connection) -> None:
    if db.execute("PRAGMA user_version").fetchone()[0] != _SCHEMA_VERSION:
        db.execute("DROP TABLE IF EXISTS vectors")  # a cache: rebuilt, never migrated
    db.execute(
        "CREATE TABLE IF NOT EXISTS vectors ("
        " model TEXT NOT NULL, prompt TEXT NOT NULL, text_sha BLOB NOT NULL, vector BLOB NOT NULL,"
        " UNIQUE (model, prompt, text_sha))"
    )
    db.execute(f"PRAGMA user_version={_SCHEMA_VERSION}")
    db.execute("SELECT model, prompt, text_sha, vector FROM vectors LIMIT 1").fetchall()


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

    def with_spec(self, spec: ModelSpec) -> CachedEmbedder:
        """The wrapped model under other prompts, still behind this cache (its entries are keyed by the
        prompt applied, so another query prompt never reads a vector of this one)."""
        with_spec = getattr(self._inner, "with_spec", None)
        if with_spec is None:
            raise ValueError(f"{self.spec.name}: this embedder cannot change its prompts")
        return CachedEmbedder(with_spec(spec), self._cache, self._key)

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
