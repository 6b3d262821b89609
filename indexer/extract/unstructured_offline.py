"""The one door to ``unstructured``: every import of it goes through here.

``unstructured`` pings a telemetry endpoint when imported, prints a usage
notice, and downloads spaCy's ``en_core_web_sm`` the first time it classifies
text. The app must work on an air-gapped machine, so before the library is
imported the opt-out variables are forced, and its model loader is replaced by
a blank multilingual spaCy pipeline with a rule-based sentencizer (the only
part its title/narrative heuristics really need; there is no POS tagger, so
its English verb check never fires, which is what we want for other languages).
"""

from __future__ import annotations

import importlib
import os
import threading
from collections.abc import Callable
from functools import cache
from types import ModuleType
from typing import Any, NoReturn

# Forced, not defaulted: an empty DO_NOT_TRACK in the user's shell would not opt out,
# and none of these switches off anything the app needs.
OFFLINE_ENV: dict[str, str] = {
    "DO_NOT_TRACK": "1",
    "SCARF_NO_ANALYTICS": "true",
    "UNSTRUCTURED_DISABLE_NOTICE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
}
# Defaulted: the hub is offline unless the user chose otherwise (app.py's --allow-downloads sets
# MLSEARCH_ALLOW_DOWNLOADS=1 to fetch other models); the partitioners used here never touch the hub.
HUB_OFFLINE_DEFAULTS: dict[str, str] = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}

_SETUP_LOCK = threading.Lock()  # the patching below must happen once even with two extractor threads


def force_offline_env() -> None:
    """Set the opt-out variables; cheap and idempotent, so callers may repeat it."""
    os.environ.update(OFFLINE_ENV)
    if os.environ.get("MLSEARCH_ALLOW_DOWNLOADS") != "1":
        for name, value in HUB_OFFLINE_DEFAULTS.items():
            os.environ.setdefault(name, value)


force_offline_env()


@cache
def blank_nlp() -> Any:
    """A blank multilingual pipeline that splits sentences by punctuation in any script."""
    import spacy

    nlp = spacy.blank("xx")
    nlp.add_pipe("sentencizer")
    return nlp


def _refuse_download() -> NoReturn:
    raise RuntimeError("model download refused: the indexer runs offline")


@cache
def unstructured() -> ModuleType:
    """Import ``unstructured`` offline and return its ``partition`` package.

    Patches ``unstructured.nlp.tokenize`` so that the spaCy model it asks for is
    the blank pipeline, and so that no install can ever be attempted.
    """
    with _SETUP_LOCK:
        force_offline_env()
        from unstructured import partition
        from unstructured.nlp import tokenize

        tokenize._get_nlp = blank_nlp  # type: ignore[assignment]  # looked up at call time by pos_tag etc.
        tokenize._load_spacy_model = blank_nlp  # type: ignore[assignment]
        tokenize._install_spacy_model = _refuse_download  # type: ignore[assignment]
        return partition


def partitioner(kind: str) -> Callable[..., list[Any]]:
    """``partitioner("docx")`` is ``unstructured.partition.docx.partition_docx``, imported offline."""
    unstructured()
    module = importlib.import_module(f"unstructured.partition.{kind}")
    return getattr(module, f"partition_{kind}")  # type: ignore[no-any-return]
