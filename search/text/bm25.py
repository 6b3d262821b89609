"""BM25 term vectors over the embedding model's own subword tokenizer.

A word tokenizer needs a segmenter and a stemmer per language (and none exists
for half the scripts users have); a multilingual subword vocabulary covers
every script the model does. BGE-M3's paper used exactly this for its BM25
baseline. Documents get saturated, length-normalised term frequencies; queries
get weight 1 per distinct term; Qdrant's IDF modifier supplies the IDF from the
collection itself, so the product is BM25 with collection statistics that stay
right as documents are added and removed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from search.core.types import SparseVector

NAME_PREFIX = "bm25-tok"


@runtime_checkable
class SubwordTokenizer(Protocol):
    """What the encoder needs from an embedder: token ids of bare texts (TransformersEmbedder has it)."""

    def tokenize(self, texts: Sequence[str]) -> list[list[int]]: ...


@dataclass(frozen=True)
class BM25Params:
    """Okapi BM25's k1 and b; ``avg_len`` stands in for the corpus mean (in tokens) that a stream cannot know."""

    k1: float = 1.2
    b: float = 0.75
    avg_len: float = 200.0  # near the indexer's mean chunk (chunks are at most 256 tokens)
    lowercase: bool = True  # sentencepiece vocabularies are cased; "Paris" and "paris" should match

    def tag(self) -> str:
        return f"k1={self.k1:g},b={self.b:g},avg={self.avg_len:g}{',lc' if self.lowercase else ''}"


class SubwordBM25Encoder:
    """SparseEncoder: BM25 document weights and binary query terms over a model's subword ids.

    The name records the tokenizer's model and the parameters, because ids and
    weights from another tokenizer or another ``k1``/``b`` cannot be mixed with
    stored ones.
    """

    def __init__(
        self, tokenizer: SubwordTokenizer, model_name: str, params: BM25Params | None = None
    ) -> None:
        self._tokenizer = tokenizer
        self._params = params or BM25Params()
        self._name = f"{NAME_PREFIX}:{model_name}:{self._params.tag()}"
        # Ids the tokenizer adds around any text (e.g. <s> and </s>): markers, not terms.
        self._special = frozenset(tokenizer.tokenize([""])[0])

    @classmethod
    def for_embedder(cls, embedder: object, params: BM25Params | None = None) -> SubwordBM25Encoder:
        """The encoder paired with an embedder; the embedder must expose ``tokenize`` and ``spec``."""
        if not isinstance(embedder, SubwordTokenizer):
            raise TypeError(
                f"{type(embedder).__name__} has no tokenize(); sparse search needs the model's tokenizer"
            )
        spec = getattr(embedder, "spec", None)
        name = getattr(spec, "name", None) or type(embedder).__name__
        return cls(embedder, str(name), params)

    @property
    def name(self) -> str:
        return self._name

    @property
    def params(self) -> BM25Params:
        return self._params

    def terms(self, texts: Sequence[str]) -> list[list[int]]:
        """Subword ids of each text without special tokens (and without any model prompt)."""
        prepared = [t.lower() if self._params.lowercase else t for t in texts]
        return [[i for i in ids if i not in self._special] for ids in self._tokenizer.tokenize(prepared)]

    def encode_documents(self, texts: Sequence[str]) -> list[SparseVector]:
        p = self._params
        vectors = []
        for ids in self.terms(texts):
            counts = Counter(ids)
            norm = p.k1 * (1.0 - p.b + p.b * len(ids) / p.avg_len)
            vectors.append(_vector({term: tf * (p.k1 + 1.0) / (tf + norm) for term, tf in counts.items()}))
        return vectors

    def encode_queries(self, texts: Sequence[str]) -> list[SparseVector]:
        return [_vector(dict.fromkeys(ids, 1.0)) for ids in self.terms(texts)]


def _vector(weights: dict[int, float]) -> SparseVector:
    terms = sorted(weights)
    return SparseVector(indices=tuple(terms), values=tuple(float(weights[t]) for t in terms))
