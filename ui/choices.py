"""What the pickers offer: only collections, languages, modes and second stages that exist here."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from search.retrieval.searcher import MODES
from search.application.services import Services, default_collection
from search.stores.base import StoreError

NO_SECOND_STAGE = "none"


@dataclass(frozen=True)
class CollectionInfo:
    name: str
    model: str
    chunks: int
    sparse: bool

    @property
    def label(self) -> str:
        return f"{self.name} · {self.model} · {self.chunks} passages"


def collections(services: Services) -> list[CollectionInfo]:
    out: list[CollectionInfo] = []
    for name in sorted(services.store.list_collections()):
        meta = services.store.get_meta(name)
        if meta is None:
            continue
        try:
            count = services.store.count(name)
        except StoreError:
            count = 0
        out.append(CollectionInfo(name, meta.model, count, meta.sparse_encoder is not None))
    return out


def collection_choices(services: Services) -> list[tuple[str, str]]:
    return [(info.label, info.name) for info in collections(services)]


def default_collection_choice(services: Services, available: Sequence[str] | None = None) -> str | None:
    """The default model's collection when it exists, else the first one, else None."""
    names = list(available) if available is not None else [name for _, name in collection_choices(services)]
    preferred = default_collection(services.settings.default_model)
    if preferred in names:
        return preferred
    return names[0] if names else None


def language_choices(services: Services, collection: str | None) -> list[tuple[str, str]]:
    """Languages present in a collection, most passages first, labelled with their counts."""
    if not collection:
        return []
    try:
        counts = services.store.facet(collection, "language")
    except (StoreError, LookupError):
        return []
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return [(f"{lang} ({n})", lang) for lang, n in ordered]


def mode_choices(services: Services, collection: str | None) -> list[str]:
    """dense always; sparse and hybrid where the collection stores sparse vectors.

    Read from the collection's metadata, so building or loading a page never waits for a model;
    should the sparse encoder be missing, the searcher refuses the mode with a message.
    """
    if not collection:
        return ["dense"]
    try:
        meta = services.store.get_meta(collection)
    except (StoreError, LookupError, ValueError):
        return ["dense"]
    return list(MODES) if meta is not None and meta.sparse_encoder else ["dense"]


def available_second_stages(services: Services) -> list[str]:
    """Second stages this machine can run (rerankers whose files are here).

    Only these are offered and accepted: ``Services.reranker`` would also load any hub id or
    local folder it is given, which a browser user must not be able to name.
    """
    return [str(name) for name in services.available_rerankers()]


def second_stage_choices(services: Services) -> list[str]:
    """'none' plus the available second stages."""
    return [NO_SECOND_STAGE, *available_second_stages(services)]


def model_choices(services: Services) -> list[str]:
    """Registry models, the default first: unavailable ones fail with a message saying how to get them."""
    default = services.spec().name
    return [default, *[name for name in services.registry.names() if name != default]]


def all_modes() -> list[str]:
    return list(MODES)


def example_queries(queryset_folder: Path | None, limit: int = 10) -> list[str]:
    """A few queries from a query set, one per language in turn, for the Examples box."""
    if queryset_folder is None:
        return []
    path = queryset_folder / "queries.jsonl"
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    by_language: dict[str, list[str]] = {}
    for line in lines:
        try:
            row = json.loads(line)
        except ValueError:
            continue
        text = str(row.get("text", "")).strip()
        if text:
            by_language.setdefault(str(row.get("language", "und")), []).append(text)
    picked: list[str] = []
    depth = 0
    while len(picked) < limit and any(depth < len(v) for v in by_language.values()):
        for queries in by_language.values():
            if depth < len(queries) and len(picked) < limit:
                picked.append(queries[depth])
        depth += 1
    return picked
