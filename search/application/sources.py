"""Source filters as people type them: the path a result shows (relative to the indexed folder),
or the absolute path, or a path relative to the current folder.

The store keeps absolute paths; results display them relative to the folder that was indexed
(``es-paella.pdf``, ``food/es-paella.pdf``). A filter written the way results read must match,
and one that matches no indexed file must say so rather than silently return nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from search.core.types import relative_source
from search.stores.base import VectorStore
from search.stores.payload import Field

MAX_FILES = 1_000_000  # facet limit: every indexed file of a collection
MAX_ROOTS = 10_000


@dataclass(frozen=True)
class SourceMatch:
    sources: tuple[str, ...]  # absolute paths as stored
    unmatched: tuple[str, ...]  # filters that name no indexed file

    def warning(self, collection: str) -> str | None:
        if not self.unmatched:
            return None
        names = ", ".join(repr(u) for u in self.unmatched[:3]) + (" …" if len(self.unmatched) > 3 else "")
        return (
            f"no indexed file of {collection!r} matches the source filter {names}; "
            "give the path as results show it (relative to the indexed folder) or the absolute path"
        )


def displayed_files(store: VectorStore, collection: str) -> dict[str, str]:
    """Displayed path -> stored absolute path, for every file in the collection."""
    sources = store.facet(collection, Field.SOURCE.value, limit=MAX_FILES)
    roots = sorted(store.facet(collection, Field.ROOT.value, limit=MAX_ROOTS), key=len, reverse=True)
    shown: dict[str, str] = {}
    for source in sources:
        root = next((r for r in roots if source.startswith(r.rstrip("/") + "/")), "")
        shown.setdefault(relative_source(source, root), source)
    return shown


def match_sources(given: Sequence[str], shown: Mapping[str, str]) -> SourceMatch:
    """Each filter as a displayed path, an absolute path, or a path relative to the current folder."""
    stored = set(shown.values())
    found: list[str] = []
    unmatched: list[str] = []
    for raw in given:
        text = raw.strip()
        if text in shown:
            found.append(shown[text])
        elif text in stored:
            found.append(text)
        else:
            local = str(Path(text).expanduser().resolve()) if text else ""
            if local in stored:
                found.append(local)
            else:
                unmatched.append(raw)
    return SourceMatch(tuple(dict.fromkeys(found)), tuple(unmatched))
