"""Turn exceptions into messages for the page: user errors verbatim, bugs as a short note (traceback in the log)."""

from __future__ import annotations

import logging

from search.models.embedders import ModelNotAvailableError
from search.evaluation.querysets import QuerySetError
from search.retrieval.searcher import QueryError
from search.stores.base import StoreError
from search.application.access import NotAllowedError

log = logging.getLogger("ui")

USER_ERRORS: tuple[type[BaseException], ...] = (
    QueryError,
    QuerySetError,
    StoreError,  # incl. ModelMismatchError, CollectionNotFoundError, StoreLockedError
    NotAllowedError,
    ModelNotAvailableError,
    LookupError,  # UnknownModelError
    FileNotFoundError,
    NotADirectoryError,
    PermissionError,
)


def user_message(exc: BaseException) -> str:
    """What the user should read; anything unexpected is logged with its traceback and summarised."""
    if isinstance(exc, USER_ERRORS):
        return _one_line(str(exc)) or type(exc).__name__
    log.exception("unexpected error in a UI handler", exc_info=exc)
    return f"Something went wrong ({type(exc).__name__}); the details are in the server log."


def _one_line(text: str, limit: int = 600) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
