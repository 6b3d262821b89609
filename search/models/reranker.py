"""Reranker protocol: a second stage that re-scores first-stage candidates.

Implementations (a cross-encoder for any hub or local model, and whatever
offline second stage measurements justify) live beside this protocol.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Protocol, runtime_checkable

from search.core.types import Hit


@runtime_checkable
class Reranker(Protocol):
    @property
    def name(self) -> str: ...

    def rerank(self, query: str, hits: Sequence[Hit], k: int) -> list[Hit]:
        """The best ``k`` of ``hits`` for ``query``, best first, with the reranker's scores."""
        ...


def order_by_scores(hits: Sequence[Hit], scores: Sequence[float], k: int) -> list[Hit]:
    """The ``k`` best hits under new scores, best first; ties keep the first stage's order."""
    if len(scores) != len(hits):
        raise ValueError(f"{len(scores)} scores for {len(hits)} hits")
    order = sorted(range(len(hits)), key=lambda i: (-float(scores[i]), i))
    return [replace(hits[i], score=float(scores[i])) for i in order[: max(k, 0)]]
