"""What the pickers offer, as Gradio wants it: only collections, languages, modes and second stages that exist."""

from __future__ import annotations

import json
from pathlib import Path

from search.application.search_app import SearchApp
from search.application.searching import MODES, NO_SECOND_STAGE
from search.core.eta import duration_text

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


def compare_defaults(app: SearchApp) -> list[tuple[str | None, str]]:
    """(collection, mode) for Compare's pipelines A, B, C, always over the same documents: the default
    collection, then other models' collections over the same folders (the companion model's first), so a
    first look compares two models with no picker touched; when no other model has indexed those
    folders, B is the same collection in another retrieval mode (never an unrelated collection)."""
    first = app.default_collection()
    picks: list[tuple[str | None, str]] = [(first, "dense")]
    if first is not None:
        picks += [(info.name, "dense") for info in app.same_documents(first)[:2]]
    if len(picks) == 1:
        modes = mode_choices(app, first)
        picks.append((first, "hybrid" if "hybrid" in modes else "dense"))
    while len(picks) < 3:
        picks.append((first, "dense"))
    return picks


def compare_offer(app: SearchApp, collection: str | None) -> tuple[str, str | None]:
    """(note, model to offer) for Compare's pipeline A: whether another model's collection holds the same
    documents and, when none does, the model to index them with and how long that should take."""
    info = app.catalog.get(collection) if collection else None
    if info is None:
        return "", None
    partners = app.same_documents(info.name)
    if partners:
        names = ", ".join(f"**{p.name}** ({p.model})" for p in partners)
        return f"Same documents as **{info.name}**: {names}.", None
    offer = app.second_model_offer(info.name)
    only = f"**{info.name}** is indexed with {info.model} only: no other model has indexed its documents"
    if offer is None:
        return only + ", and no other model runs here: compare retrieval modes of this collection.", None
    model, rate = offer
    if rate is not None:
        estimate = (
            f"{duration_text(rate.seconds_for(info.chunks))} for its {info.chunks:,} passages, at the "
            f"{rate.passages_per_s:.0f} passages/s {rate.model} indexed at here (an estimate: it was measured "
            f"on {rate.passages:,} passages)"
        )
    else:
        estimate = (
            f"{info.chunks:,} passages; {model}'s speed here is not measured yet (the progress shows it)"
        )
    return (
        f"{only}. To compare two models over the same documents, index them with **{model}**: {estimate}.",
        model,
    )


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
    """Models that run on this machine without a network, the default first (what pickers accept)."""
    return [info.name for info in app.models() if info.available]


def model_picker_choices(app: SearchApp) -> list[tuple[str, str]]:
    """(label, name) of the models on this machine: the label says which is the default, which is built
    on first use and which searches within one language only."""
    return [(info.label, info.name) for info in app.models() if info.available]


def models_needing_download(app: SearchApp) -> str:
    """One line for a picker's info: the models left out because they need a download, and how to get them."""
    missing = [info for info in app.models() if not info.available]
    if not missing:
        return "all known models are on this machine"
    return (
        f"on this machine only; {len(missing)} more need a download "
        "(python app.py models --all-models shows them and the command to get each)"
    )


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


AS_RECORDED = "as recorded"  # the collection's own vectors: what it was indexed with


def correction_choices() -> list[tuple[str, str]]:
    """The language-correction variants a search or comparison may pick (search.application.variants)."""
    return [
        ("as the collection records", AS_RECORDED),
        ("raw: the model's own vectors", "raw"),
        ("corrected: language means out, no vote", "corrected"),
        ("vote: corrected + the cross-lingual vote", "vote"),
    ]


def chosen_correction(value: str | None) -> str | None:
    """None for the collection's own variant; the name otherwise (checked by make_request)."""
    return None if not value or value == AS_RECORDED else str(value)


def chosen_prompt(text: str | None) -> str | None:
    """An empty field keeps the model's query prompt; anything else replaces it (an instruction for
    a model with an instruction template)."""
    return None if text is None or not str(text).strip() else str(text)


def chosen_prompts(text: str | None) -> list[str]:
    """One prompt per line (the Evaluate tab compares each beside the model's own)."""
    return [line for line in str(text or "").splitlines() if line.strip()]
