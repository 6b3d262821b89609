"""A search request as every front end makes it, parsed and validated in one place, and its outcome.

The CLI, the web page and the Gradio API all turn their raw values (which an API
client can set to anything) into a ``SearchRequest`` with ``make_request``;
``SearchApp.search`` runs it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from search.application.variants import parse_corrections, variant_suffix
from search.core.errors import InputError, QueryError
from search.core.types import UNDETERMINED
from search.models.specs import ModelSpec
from search.retrieval.highlight import Highlight
from search.retrieval.relevance import LABELS as LABELS
from search.retrieval.relevance import RERANK_SCORE_HELP as RERANK_SCORE_HELP
from search.retrieval.relevance import SCORE_HELP as SCORE_HELP
from search.retrieval.relevance import Cue
from search.retrieval.searcher import MAX_K, MODES, SearchResult

# The "X as X" imports above, and Highlight and MODES, are what the UI reads of search.retrieval, which
# it reaches only through this layer (an import-linter contract).
HIGHLIGHTS = ("semantic", "lexical", "off")
MAX_UI_K = 50
NO_SECOND_STAGE = "none"
LANGUAGE_CODE = re.compile(r"^[A-Za-z]{2,3}([_-][A-Za-z0-9]{2,8})?$")


@dataclass(frozen=True)
class SearchRequest:
    query: str
    collection: str
    languages: tuple[str, ...] = ()  # only chunks in these languages
    k: int = 10
    mode: str = "dense"
    second_stage: str | None = None
    highlight: str = "semantic"
    sources: tuple[str, ...] = ()  # only chunks of these files (as displayed, or absolute paths)
    model: str | None = None  # when given, must be the collection's model (checked)
    query_language: str | None = None  # the user's reading of the query's language (else detected)
    # Variants of the collection's pipeline (search.application.variants): None = what it records.
    correction: str | None = None  # raw / corrected / vote
    query_prompt: str | None = None  # the query prefix, or the instruction of an instruction template

    @property
    def label(self) -> str:
        stage = f" + {self.second_stage}" if self.second_stage else ""
        return f"{self.collection} · {self.mode}{stage}{variant_suffix(self.correction, self.query_prompt)}"


@dataclass(frozen=True)
class SearchOutcome:
    request: SearchRequest
    result: SearchResult
    highlights: tuple[Highlight | None, ...]
    timings_ms: Mapping[str, float] = field(default_factory=dict)
    # One line each: a source filter that names no indexed file; where the model is out of its depth
    # (a language it was not trained on, a cross-lingual match from a same-language model).
    warnings: tuple[str, ...] = ()
    # per hit, "strong" / "weak" / "none"; empty where the cue is not calibrated; None for a hit whose cue
    # would be stronger than one ranked above it (hybrid, sparse, second stage: see RelevanceCues.of)
    cues: tuple[Cue | None, ...] = ()
    cue_note: str | None = None  # why there is no cue (no calibration for this model and mode)
    # What was searched: raw / corrected / vote, and the query prompt applied (variants.prompt_record).
    variant: Mapping[str, object] = field(default_factory=dict)


def language_warnings(spec: ModelSpec, result: SearchResult) -> tuple[str, ...]:
    """Flags for a query or results in languages the model does not support, or matched across
    languages by a model that cannot do that."""
    warnings = []
    query = result.query_language.code if result.query_language is not None else UNDETERMINED
    if not spec.supports(query):
        warnings.append(
            f"{spec.name} was not trained on the query's language ({query}): its results are unreliable. "
            f"It supports {', '.join(spec.supported_languages)}."
        )
    unsupported = sorted({hit.language for hit in result.hits if not spec.supports(hit.language)})
    if unsupported:
        warnings.append(
            f"Results in {', '.join(unsupported)}: languages {spec.name} was not trained on, so their "
            "ranking is unreliable."
        )
    if not spec.cross_lingual and query != UNDETERMINED:
        other = sorted({hit.language for hit in result.hits} - {query, UNDETERMINED})
        if other:
            warnings.append(
                f"{spec.name} matches within one language only: results in {', '.join(other)} for a "
                f"{query} query are unreliable, and passages in other languages may be missing."
            )
    return tuple(warnings)


def make_request(
    query: str,
    collection: str | None,
    languages: Sequence[str] | None,
    k: float | str | None,
    mode: str | None,
    second_stage: str | None,
    highlight: str | None = "semantic",
    *,
    sources: Sequence[str] = (),
    model: str | None = None,
    max_k: int = MAX_UI_K,
    query_language: str | None = None,
    correction: str | None = None,
    query_prompt: str | None = None,
) -> SearchRequest:
    """Validate raw values into a request; every refusal is a QueryError with a message for the user."""
    if not collection:
        raise QueryError("No collection yet: index a folder or upload files in the Index tab first.")
    try:
        top_k = 10 if k is None or k == "" else int(k)
    except (TypeError, ValueError) as exc:
        raise QueryError("k must be a whole number.") from exc
    if not 1 <= top_k <= min(max_k, MAX_K):
        raise QueryError(f"k must be between 1 and {min(max_k, MAX_K)}.")
    if (mode or "dense") not in MODES:
        raise QueryError(f"Unknown mode {mode!r}; choose one of {', '.join(MODES)}.")
    if (highlight or "off") not in HIGHLIGHTS:
        raise QueryError(f"Unknown highlight {highlight!r}; choose one of {', '.join(HIGHLIGHTS)}.")
    stage = None if not second_stage or second_stage == NO_SECOND_STAGE else second_stage
    langs = tuple(str(lang) for lang in (languages or ()) if lang)
    given = (query_language or "").strip() or None
    bad = [
        lang
        for lang in (*langs, *([given] if given and given != "auto" else []))
        if not LANGUAGE_CODE.match(lang)
    ]
    if bad:
        raise QueryError(f"Not a language code: {bad[0][:20]!r} (use ISO 639-1 codes such as en, de, zh).")
    try:
        variants = parse_corrections([correction] if correction else [])
    except InputError as exc:
        raise QueryError(str(exc)) from None
    if query_prompt is not None and len(query_prompt) > 1000:
        raise QueryError("A query prompt is at most 1000 characters.")
    return SearchRequest(
        query=str(query or ""),
        collection=str(collection),
        languages=langs,
        k=top_k,
        mode=mode or "dense",
        second_stage=stage,
        highlight=highlight or "off",
        sources=tuple(sources),
        model=model,
        query_language=None if given in (None, "auto") else given,
        correction=variants[0] if variants else None,
        query_prompt=None if query_prompt is None else str(query_prompt),
    )
