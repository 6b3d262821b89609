"""What is indexed: each collection's description, size and languages, read once and kept.

Every front end asks the same questions (which collections, built by which model,
with which modes and languages) many times per page and per search. The catalog
reads the store once, keeps the answers, and is told when an index run in this
process changes them. A search still confirms its collection's description with
one store call (another process may have rebuilt it), so a stale catalog can
never send a query to the wrong model.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

from search.application.sources import MAX_ROOTS
from search.core.errors import CollectionNotFoundError, StoreError
from search.retrieval.searcher import MODES, Mode
from search.stores.base import CollectionMeta, VectorStore
from search.stores.payload import Field


@dataclass(frozen=True)
class CollectionInfo:
    name: str
    meta: CollectionMeta
    chunks: int
    languages: Mapping[str, int] = field(default_factory=dict)  # chunk language -> chunks
    roots: Mapping[str, int] = field(default_factory=dict)  # folder indexed -> chunks from it

    @property
    def documents(self) -> frozenset[str]:
        """The folders its documents were indexed from: two collections with the same folders hold the
        same documents (each model chunks them to its own budget), so their results can be compared."""
        return frozenset(self.roots)

    @property
    def model(self) -> str:
        return self.meta.model

    @property
    def sparse(self) -> bool:
        return self.meta.sparse_encoder is not None

    @property
    def modes(self) -> tuple[Mode, ...]:
        """dense always; sparse and hybrid where the collection stores sparse vectors."""
        return MODES if self.sparse else ("dense",)

    @property
    def label(self) -> str:
        """Short enough for a picker: the model only when the name does not already say it."""
        model = "" if self.model.rsplit("/", 1)[-1] in self.name else f" · {self.model}"
        return f"{self.name}{model} · {self.chunks} passages"


class Catalog:
    """Collection descriptions by name, loaded on first use and after ``invalidate``."""

    def __init__(self, store: VectorStore) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._infos: dict[str, CollectionInfo] | None = None

    def infos(self) -> list[CollectionInfo]:
        with self._lock:
            if self._infos is None:
                self._infos = {
                    name: info for name in self._store.list_collections() if (info := self._read(name))
                }
            return [self._infos[name] for name in sorted(self._infos)]

    def names(self) -> list[str]:
        return [info.name for info in self.infos()]

    def get(self, name: str) -> CollectionInfo | None:
        """The collection's description; an unknown name is looked up once more (it may be new)."""
        for info in self.infos():
            if info.name == name:
                return info
        self.invalidate()
        return next((info for info in self.infos() if info.name == name), None)

    def require(self, name: str) -> CollectionInfo:
        info = self.get(name)
        if info is None:
            known = ", ".join(self.names()) or "none yet"
            raise CollectionNotFoundError(
                f"No collection {name!r} (collections: {known}). "
                f"Index a folder first: python app.py index DIR --collection {name}"
            )
        return info

    def confirm(self, name: str, meta: CollectionMeta | None) -> CollectionInfo:
        """Update the entry with a description just read from the store (``None``: the collection is gone)."""
        if meta is None:
            self.invalidate()
            return self.require(name)
        info = self.require(name)
        if info.meta != meta:
            self.invalidate()
            info = self.require(name)
        return info

    def invalidate(self) -> None:
        """Forget everything: the next question reads the store again (after an index run or a drop)."""
        with self._lock:
            self._infos = None

    def _read(self, name: str) -> CollectionInfo | None:
        try:
            meta = self._store.get_meta(name)
            if meta is None:
                return None
            chunks = self._store.count(name)
            languages = self._store.facet(name, Field.LANGUAGE.value)
            roots = self._store.facet(name, Field.ROOT.value, limit=MAX_ROOTS)  # uploads: a folder each
        except (StoreError, LookupError, ValueError):
            return None  # being dropped or unreadable: not offered
        ordered = dict(sorted(languages.items(), key=lambda kv: (-kv[1], kv[0])))
        return CollectionInfo(name, meta, chunks, ordered, roots)
