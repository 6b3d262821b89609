"""Reranker protocol: a second stage that re-scores first-stage candidates.

Implementations (a cross-encoder for any hub or local model, and whatever
offline second stage measurements justify) live beside this protocol.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from search.types import Hit


@runtime_checkable
class Reranker(Protocol):
    @property
    def name(self) -> str: ...

    def rerank(self, query: str, hits: Sequence[Hit], k: int) -> list[Hit]:
        """The best ``k`` of ``hits`` for ``query``, best first, with the reranker's scores."""
        ...
