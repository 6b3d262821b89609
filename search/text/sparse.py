"""SparseEncoder protocol: lexical term vectors for hybrid search.

Qdrant applies IDF (the sparse vector's IDF modifier), so encoders only produce
term weights. The encoder's ``name`` is recorded with a collection, because
term ids from one tokenizer mean nothing to another.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from search.core.types import SparseVector


@runtime_checkable
class SparseEncoder(Protocol):
    @property
    def name(self) -> str: ...

    def encode_documents(self, texts: Sequence[str]) -> list[SparseVector]: ...

    def encode_queries(self, texts: Sequence[str]) -> list[SparseVector]: ...
