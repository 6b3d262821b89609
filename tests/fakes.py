"""Deterministic stand-ins for the model, so logic tests know their expected results in advance."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np

from search.models.specs import ModelSpec

_WORD = re.compile(r"\w+", re.UNICODE)


def fake_spec(name: str = "fake-hash-64", dimension: int = 64, max_tokens: int = 64) -> ModelSpec:
    return ModelSpec(
        name=name,
        source="fake",
        revision="1",
        dimension=dimension,
        max_tokens=max_tokens,
        pooling="mean",
        query_prompt="query: ",
        document_prompt="passage: ",
    )


class FakeEmbedder:
    """Bag of hashed lower-cased words: texts sharing words get similar vectors.

    Prompts are ignored on purpose so a query equal to a passage scores 1.0.
    One "token" per word, so token budgets are easy to reason about in tests.
    """

    def __init__(self, spec: ModelSpec | None = None) -> None:
        self._spec = spec or fake_spec()
        self.calls: list[tuple[str, int]] = []  # (side, batch size), to assert batching and caching

    @property
    def spec(self) -> ModelSpec:
        return self._spec

    def with_spec(self, spec: ModelSpec) -> FakeEmbedder:
        """The same fake under other prompts (a user's query prompt); prompts are ignored anyway."""
        return type(self)(spec)

    def _embed(self, texts: Sequence[str]) -> np.ndarray:
        dim = self._spec.dimension
        out = np.zeros((len(texts), dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in _WORD.findall(text.lower()):
                digest = hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest()
                out[row, int.from_bytes(digest[:4], "little") % dim] += 1.0
            if not out[row].any():
                out[row, 0] = 1.0
        out /= np.linalg.norm(out, axis=1, keepdims=True)
        return out

    def encode_queries(self, texts: Sequence[str], task: str | None = None) -> np.ndarray:
        self.calls.append(("query", len(texts)))
        return self._embed(texts)

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(("document", len(texts)))
        return self._embed(texts)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(text.split()) for text in texts]

    def document_overhead(self) -> int:
        return 3
