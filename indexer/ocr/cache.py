"""OCR results kept by content: the same page image never goes through Tesseract twice.

Why: OCR costs seconds a page, far more than embedding its text. Re-indexing a folder after a
collection was dropped, the same scans indexed into a second collection (another model), or a
PDF edited elsewhere all bring back page images already read. A result is keyed by the sha256 of
the exact image Tesseract is given, the engine's version, the packs (or the automatic choice and
the packs installed), the resolution and the page segmentation mode, so a new engine, a new pack
or another setting reads the page again. One SQLite file beside the models, like the embedding
cache (WAL; one connection behind a lock, safe across threads).
"""

from __future__ import annotations

import hashlib
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from search.core.optional_sqlite import OptionalSqlite

CACHE_FILENAME = "ocr.sqlite3"
_SCHEMA_VERSION = 1


@dataclass(frozen=True)
class CachedPage:
    text: str
    confidence: float
    languages: tuple[str, ...]
    seconds: float  # what reading it cost the first time


def page_key(image_sha256: bytes, *parts: str) -> bytes:
    return hashlib.sha256(image_sha256 + "|".join(parts).encode("utf-8")).digest()


class OcrCache:
    """Optional like the embedding cache (``OptionalSqlite``): a damaged file is set aside, a read-only
    or full folder turns it off for the process, each in one line; pages are then read again."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = OptionalSqlite(path, "OCR cache", _setup)

    @classmethod
    def in_dir(cls, cache_dir: Path) -> OcrCache:
        return cls(cache_dir / CACHE_FILENAME)

    @property
    def disabled(self) -> str | None:
        return self._file.disabled

    def get(self, key: bytes) -> CachedPage | None:
        row = self._file.run(
            lambda db: db.execute(
                "SELECT text, confidence, languages, seconds FROM pages WHERE key = ?", (key,)
            ).fetchone(),
            None,
        )
        if row is None:
            return None
        text, confidence, languages, seconds = row
        return CachedPage(
            str(text), float(confidence), tuple(filter(None, str(languages).split("+"))), seconds
        )

    def put(self, key: bytes, page: CachedPage) -> None:
        self._file.write(
            lambda db: db.execute(
                "INSERT OR REPLACE INTO pages VALUES (?, ?, ?, ?, ?)",
                (key, page.text, page.confidence, "+".join(page.languages), page.seconds),
            )
        )

    def clear(self) -> int:
        """Forget every page (benchmarks that time reading; deleting the file does the same)."""
        return self._file.run(lambda db: int(db.execute("DELETE FROM pages").rowcount), 0)

    def count(self) -> int:
        return self._file.run(lambda db: int(db.execute("SELECT COUNT(*) FROM pages").fetchone()[0]), 0)

    def close(self) -> None:
        self._file.close()


def _setup(db: sqlite3.Connection) -> None:
    if db.execute("PRAGMA user_version").fetchone()[0] != _SCHEMA_VERSION:
        db.execute("DROP TABLE IF EXISTS pages")  # a cache: rebuilt, never migrated
    db.execute(
        "CREATE TABLE IF NOT EXISTS pages (key BLOB PRIMARY KEY, text TEXT NOT NULL,"
        " confidence REAL NOT NULL, languages TEXT NOT NULL, seconds REAL NOT NULL)"
    )
    db.execute(f"PRAGMA user_version={_SCHEMA_VERSION}")
    db.execute("SELECT key, text, confidence, languages, seconds FROM pages LIMIT 1").fetchall()
