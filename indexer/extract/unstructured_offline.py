"""The one door to ``unstructured``: every import of it goes through here.

``unstructured`` pings a telemetry endpoint when imported, prints a usage
notice, and downloads spaCy's ``en_core_web_sm`` the first time it classifies
text. The app must work on an air-gapped machine, so before the library is
imported the opt-out variables are set (search.core.environment), and its model loader is replaced by
a blank multilingual spaCy pipeline with a rule-based sentencizer (the only
part its title/narrative heuristics really need; there is no POS tagger, so
its English verb check never fires, which is what we want for other languages).
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Callable
from functools import cache
from types import ModuleType
from typing import Any, NoReturn

from search.core.environment import prepare_process

_SETUP_LOCK = threading.Lock()  # the patching below must happen once even with two extractor threads
# unstructured runs spaCy over each element to guess whether it is a title or narrative text, over
# up to spaCy's max_length (1M characters: ~175 MB of spaCy objects for one long paragraph). A
# prefix decides that as well as the whole; beyond it unstructured truncates (and would say so).
HEURISTIC_CHARS = 20_000
_TRUNCATION_NOTICE = "truncating for partition heuristics"


@cache
def blank_nlp() -> Any:
    """A blank multilingual pipeline that splits sentences by punctuation in any script."""
    import spacy

    nlp = spacy.blank("xx")
    nlp.add_pipe("sentencizer")
    nlp.max_length = HEURISTIC_CHARS
    return nlp


class _QuietTruncation(logging.Filter):
    """Drop unstructured's warning that it classified a long element by its prefix: that is by design."""

    def filter(self, record: logging.LogRecord) -> bool:
        return _TRUNCATION_NOTICE not in str(record.msg)


def release_caches() -> None:
    """Empty unstructured's per-text caches (spaCy docs, tokens and tags of the last 128 elements).

    They are keyed by the element's whole text, so after a file with long paragraphs they
    would keep megabytes of it alive until 128 other elements pushed them out; called after
    each parse.
    """
    from unstructured.nlp import tokenize

    for name in ("_process_cached", "word_tokenize", "pos_tag", "_tokenize_for_cache"):
        cached = getattr(tokenize, name, None)
        if cached is not None and hasattr(cached, "cache_clear"):
            cached.cache_clear()


def _refuse_download() -> NoReturn:
    raise RuntimeError("model download refused: the indexer runs offline")


@cache
def unstructured() -> ModuleType:
    """Import ``unstructured`` offline and return its ``partition`` package.

    Patches ``unstructured.nlp.tokenize`` so that the spaCy model it asks for is
    the blank pipeline, and so that no install can ever be attempted.
    """
    with _SETUP_LOCK:
        prepare_process()  # the opt-outs unstructured reads at import (telemetry, notices)
        from unstructured import partition
        from unstructured.nlp import tokenize

        logging.getLogger(tokenize.__name__).addFilter(_QuietTruncation())
        tokenize._get_nlp = blank_nlp  # type: ignore[assignment]  # looked up at call time by pos_tag etc.
        tokenize._load_spacy_model = blank_nlp  # type: ignore[assignment]
        tokenize._install_spacy_model = _refuse_download  # type: ignore[assignment]
        return partition


def partitioner(kind: str) -> Callable[..., list[Any]]:
    """``partitioner("docx")`` is ``unstructured.partition.docx.partition_docx``, imported offline."""
    unstructured()
    module = importlib.import_module(f"unstructured.partition.{kind}")
    return getattr(module, f"partition_{kind}")  # type: ignore[no-any-return]
