"""What the pickers offer, as Gradio wants it: only collections, languages, modes and second stages that exist."""

from __future__ import annotations

import json
from pathlib import Path

from search.application.search_app import SearchApp
from search.application.searching import NO_SECOND_STAGE
from search.retrieval.searcher import MODES

__all__ = ["NO_SECOND_STAGE"]


AUTO_LANGUAGE = "auto"
# Offered in the query-language picker; any other ISO 639-1 code may be typed in.
QUERY_LANGUAGES = (
    "ar", "bn", "cs", "da", "de", "el", "en", "es", "fa", "fi", "fr", "he", "hi", "hu", "id", "it", "ja",
    "ko", "nl", "no", "pl", "pt", "ro", "ru", "sv", "sw", "th", "tr", "uk", "ur", "vi", "zh",
)  # fmt: skip


def query_language_choices() -> list[tuple[str, str]]:
    """'auto' (detected from the query, shown with the results) first, then ISO codes."""
    return [("auto (detect)", AUTO_LANGUAGE), *((code, code) for code in QUERY_LANGUAGES)]


def collection_choices(app: SearchApp) -> list[tuple[str, str]]:
    return [(info.label, info.name) for info in app.collections()]


def default_collection_choice(app: SearchApp) -> str | None:
    """The default model's collection when it exists, else the first one, else None."""
    return app.default_collection()


def language_choices(app: SearchApp, collection: str | None) -> list[tuple[str, str]]:
    """Languages present in a collection, most passages first, labelled with their counts."""
    info = app.catalog.get(collection) if collection else None
    if info is None:
        return []
    return [(f"{lang} ({n})", lang) for lang, n in info.languages.items()]


def mode_choices(app: SearchApp, collection: str | None) -> list[str]:
    """dense always; sparse and hybrid where the collection stores sparse vectors.

    Read from the collection's metadata, so building or loading a page never waits for a model;
    should the sparse encoder be missing, the searcher refuses the mode with a message.
    """
    info = app.catalog.get(collection) if collection else None
    return list(info.modes) if info is not None else ["dense"]


def second_stage_choices(app: SearchApp) -> list[str]:
    """'none' plus the second stages this machine can run."""
    return [NO_SECOND_STAGE, *app.second_stages()]


def model_choices(app: SearchApp) -> list[str]:
    """Registry models, the default first: unavailable ones fail with a message saying how to get them."""
    return app.model_names()


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
