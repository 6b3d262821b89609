"""One search as the UI runs it: searcher + optional second stage + highlight, with timings.

Shared by the Search and Compare tabs, free of Gradio so it is tested directly.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from search.retrieval.searcher import MODES, QueryError, SearchResult
from search.application.services import Services
from search.stores.base import SearchFilter
from ui.choices import NO_SECOND_STAGE, available_second_stages
from search.retrieval.highlight import Highlight, Highlighter, LexicalHighlighter, SemanticHighlighter

HIGHLIGHTS = ("semantic", "lexical", "off")
MAX_UI_K = 50
LANGUAGE_CODE = re.compile(r"^[A-Za-z]{2,3}([_-][A-Za-z0-9]{2,8})?$")


@dataclass(frozen=True)
class SearchRequest:
    query: str
    collection: str
    languages: tuple[str, ...] = ()
    k: int = 10
    mode: str = "dense"
    second_stage: str | None = None
    highlight: str = "semantic"

    @property
    def label(self) -> str:
        stage = f" + {self.second_stage}" if self.second_stage else ""
        return f"{self.collection} · {self.mode}{stage}"


@dataclass(frozen=True)
class SearchOutcome:
    request: SearchRequest
    result: SearchResult
    highlights: tuple[Highlight | None, ...]
    timings_ms: Mapping[str, float] = field(default_factory=dict)


def make_request(
    query: str,
    collection: str | None,
    languages: Sequence[str] | None,
    k: float | None,
    mode: str | None,
    second_stage: str | None,
    highlight: str | None = "semantic",
) -> SearchRequest:
    """Validate raw widget values (which an API client can set to anything) into a request."""
    if not collection:
        raise QueryError("No collection yet: index a folder or upload files in the Index tab first.")
    try:
        top_k = 10 if k is None or k == "" else int(k)
    except (TypeError, ValueError) as exc:
        raise QueryError("k must be a whole number.") from exc
    if not 1 <= top_k <= MAX_UI_K:
        raise QueryError(f"k must be between 1 and {MAX_UI_K}.")
    if (mode or "dense") not in MODES:
        raise QueryError(f"Unknown mode {mode!r}; choose one of {', '.join(MODES)}.")
    if (highlight or "off") not in HIGHLIGHTS:
        raise QueryError(f"Unknown highlight {highlight!r}; choose one of {', '.join(HIGHLIGHTS)}.")
    stage = None if not second_stage or second_stage == NO_SECOND_STAGE else second_stage
    langs = tuple(str(lang) for lang in (languages or ()) if lang)
    bad = [lang for lang in langs if not LANGUAGE_CODE.match(lang)]
    if bad:
        raise QueryError(f"Not a language code: {bad[0][:20]!r} (use ISO 639-1 codes such as en, de, zh).")
    return SearchRequest(
        query=str(query or ""),
        collection=str(collection),
        languages=langs,
        k=top_k,
        mode=mode or "dense",
        second_stage=stage,
        highlight=highlight or "off",
    )


def run_search(services: Services, request: SearchRequest) -> SearchOutcome:
    """Search, rerank and highlight; errors a user can act on propagate as QueryError/StoreError/LookupError."""
    started = time.perf_counter()
    if request.collection not in services.store.list_collections():
        raise QueryError(f"No collection {request.collection[:80]!r} on this server; pick one from the list.")
    searcher = services.searcher(request.collection)
    reranker = None
    if request.second_stage:
        if request.second_stage not in available_second_stages(services):
            raise QueryError(f"Second stage {request.second_stage!r} is not available on this server.")
        reranker = services.reranker(request.second_stage)
    flt = SearchFilter(languages=request.languages)
    result = searcher.search(request.query, k=request.k, flt=flt, mode=request.mode, reranker=reranker)  # type: ignore[arg-type]
    timings = dict(result.timings_ms)
    timings.pop("total", None)
    timings["total"] = round((time.perf_counter() - started) * 1000, 2)
    plain = SearchOutcome(request, result, (None,) * len(result.hits), timings)
    return with_highlights(services, plain, request.highlight)


def with_highlights(services: Services, outcome: SearchOutcome, kind: str) -> SearchOutcome:
    """The outcome with its sentences highlighted by ``kind``; the page runs this as a second step
    (lexical first, then semantic) so results appear before the model has read their sentences."""
    result = outcome.result
    timings = {stage: ms for stage, ms in outcome.timings_ms.items() if stage not in ("highlight", "total")}
    total = float(outcome.timings_ms.get("total", 0.0)) - float(outcome.timings_ms.get("highlight", 0.0))
    highlighter = _highlighter(kind, services, result.collection)
    highlights: tuple[Highlight | None, ...] = (None,) * len(result.hits)
    if highlighter is not None and result.hits:
        t0 = time.perf_counter()
        highlights = tuple(
            highlighter.pick(result.query, result.query_vector, [hit.text for hit in result.hits])
        )
        timings["highlight"] = round((time.perf_counter() - t0) * 1000, 2)
        total += timings["highlight"]
    timings["total"] = round(total, 2)
    return SearchOutcome(replace(outcome.request, highlight=kind), result, highlights, timings)


def _highlighter(kind: str, services: Services, collection: str) -> Highlighter | None:
    if kind == "semantic":
        # Through the embedding cache: a hit shown again (the same or a related query, a Compare
        # run) has its sentences read back instead of embedded again (~0.5 s for 40 sentences).
        return SemanticHighlighter(services.document_embedder(services.model_for(collection).name))
    if kind == "lexical":
        return LexicalHighlighter()
    return None
