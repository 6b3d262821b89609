"""Embedder protocol: the query/document asymmetry lives in the interface.

Callers never add prompts themselves; an embedder applies its ModelSpec's
prompts, pooling and normalisation. Implementations live in
``search.models.encoders``; ``search.models.loading.load_embedder`` turns a name
into a ready one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from search.models.specs import ModelSpec


@runtime_checkable
class TokenCounter(Protocol):
    """What chunking needs from a model: how many tokens a text costs."""

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Tokens of each bare text, without prompt or special tokens."""
        ...

    def document_overhead(self) -> int:
        """Tokens the document prompt and special tokens add to every document."""
        ...


@runtime_checkable
class Embedder(TokenCounter, Protocol):
    """Turns texts into float32, L2-normalised vectors of ``spec.dimension``."""

    @property
    def spec(self) -> ModelSpec: ...

    def encode_queries(self, texts: Sequence[str], task: str | None = None) -> np.ndarray:
        """Embed search queries with the model's query prompt (and task instruction)."""
        ...

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        """Embed passages with the model's document prompt."""
        ...


@runtime_checkable
class TokenizedDocuments(Protocol):
    """An embedder that takes the chunker's token ids instead of tokenising the text again.

    The indexer counts every chunk's tokens with the model's tokenizer; keeping those
    ids saves a second tokenisation for the model (the BM25 encoder lower-cases, so its
    ids differ and it tokenises its own text).
    """

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Ids of each bare text, without prompt or special tokens (``count_tokens`` are their lengths)."""
        ...

    def encode_documents_tokenized(self, texts: Sequence[str], ids: Sequence[Sequence[int]]) -> np.ndarray:
        """``encode_documents(texts)``, given ``token_ids(texts)``: the same vectors, one tokenisation less."""
        ...
