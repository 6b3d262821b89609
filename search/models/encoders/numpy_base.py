"""What the prompt-free numpy embedders (USE, model2vec) share: one encoding for passages and queries."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from search.models.specs import ModelSpec


class NumpyEmbedder:
    """Passages and queries are embedded alike (no prompts, no task); subclasses implement ``_embed``."""

    _spec: ModelSpec

    @property
    def spec(self) -> ModelSpec:
        return self._spec

    @property
    def max_tokens(self) -> int:
        return self._spec.max_tokens

    @property
    def backends(self) -> tuple[str, str]:
        """What runs passages and queries (as the transformer embedders report theirs): plain numpy."""
        return ("numpy", "numpy")

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts)

    def encode_queries(self, texts: Sequence[str], task: str | None = None) -> np.ndarray:
        return self._encode(texts)

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self._spec.dimension), np.float32)
        return self._embed(texts)

    def _embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length float32 rows for a non-empty batch."""
        raise NotImplementedError
