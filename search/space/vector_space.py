"""The vector space a collection lives in: everything that makes its stored vectors and a query's vector
comparable, in one value.

Why one value: a passage indexed today and a query searched tomorrow are compared by cosine, which
means something only when both went through the same model (name, revision, prompts, pooling), the
same chunking, the same language correction and, at search time, the same vote. Before this module
that contract was checked in three places with three messages (the indexer, the searcher and the
application), and what a new collection records was assembled in a fourth. Now the application builds
a ``VectorSpace`` once (``Services.space`` for a new collection, ``Services.space_of`` for a stored
one), the indexer writes with it, the searcher searches with it and evaluation does both; ``check`` is
the only compatibility test, and ``meta`` the only place a collection's description is made.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from search.core.errors import ModelMismatchError
from search.models.embedder import Embedder
from search.models.language_bias import LanguageCentering
from search.models.specs import ModelSpec
from search.space.feedback import Feedback
from search.stores.base import CollectionMeta
from search.text.sparse import SparseEncoder


@dataclass(frozen=True)
class Chunking:
    """How documents were cut: chunks of this many model tokens (prompt included), overlapping by this many."""

    chunk_tokens: int
    overlap_tokens: int

    def as_extra(self) -> dict[str, str]:
        return {"chunk_tokens": str(self.chunk_tokens), "overlap_tokens": str(self.overlap_tokens)}

    @classmethod
    def recorded(cls, extra: Mapping[str, str]) -> Chunking | None:
        """The chunking a collection records; None for collections of versions that did not record it."""
        try:
            return cls(int(extra["chunk_tokens"]), int(extra["overlap_tokens"]))
        except (KeyError, ValueError):
            return None


def model_mismatch(meta: CollectionMeta, spec: ModelSpec) -> str | None:
    """Why vectors of ``spec`` are not comparable with the collection's, or None (the model part of ``check``)."""
    mine = (meta.model, meta.revision, meta.dimension, meta.query_prompt, meta.document_prompt, meta.pooling)
    theirs = (spec.name, spec.revision, spec.dimension, spec.query_prompt, spec.document_prompt, spec.pooling)
    if mine == theirs:
        return None
    return (
        f"it was built with model {meta.model!r} (revision {meta.revision}, dimension {meta.dimension}), "
        f"not {spec.name!r} (revision {spec.revision}, dimension {spec.dimension}). Search it with "
        f"--model {meta.model!r}, or index into a new collection for {spec.name!r} (--collection NAME)"
    )


def check_model(meta: CollectionMeta, spec: ModelSpec, collection: str) -> None:
    """Refuse ``spec`` for the collection before it is loaded (a caller that names a model): ``check``'s
    model part, with its message."""
    reason = model_mismatch(meta, spec)
    if reason:
        raise ModelMismatchError(f"Collection {collection!r}: {reason}.")


@dataclass(frozen=True, eq=False)
class VectorSpace:
    """The model (with its prompts), the chunking, the language correction, the vote and the sparse encoder
    a collection's vectors were written with, and its queries must be embedded and re-scored with.

    ``chunking`` None: not part of the comparison (a search never chunks; collections of early versions
    did not record it). ``variant`` names what is compared: the model's own vectors, corrected ones, or
    corrected ones with the vote; a searcher's variants are views of its stored space (``without_vote``,
    ``uncorrected``, ``with_queries``), never checked against the collection again.
    """

    embedder: Embedder
    correction: LanguageCentering | None = None
    feedback: Feedback | None = None
    sparse: SparseEncoder | None = None
    chunking: Chunking | None = None

    @property
    def spec(self) -> ModelSpec:
        return self.embedder.spec

    @property
    def names(self) -> tuple[str | None, str | None]:
        """(correction, feedback) as a collection records them."""
        return (
            self.correction.name if self.correction else None,
            self.feedback.name if self.feedback else None,
        )

    @property
    def variant(self) -> str:
        """ "raw" (the model's own vectors), "corrected" (the language correction, no vote) or "vote"."""
        if self.correction is None:
            return "raw"
        return "vote" if self.feedback is not None else "corrected"

    def meta(self) -> CollectionMeta:
        """What a new collection in this space records (and every later run and search is checked against)."""
        correction, feedback = self.names
        base = CollectionMeta.for_model(self.spec, self.sparse.name if self.sparse else None)
        extra = self.chunking.as_extra() if self.chunking else {}
        return replace(base, correction=correction, feedback=feedback, extra=extra)

    def mismatch(self, meta: CollectionMeta) -> str | None:
        """Why this space's vectors are not comparable with the collection's, or None: the one check."""
        reason = model_mismatch(meta, self.spec)
        if reason:
            return reason
        correction, feedback = self.names
        if meta.correction != correction:
            return (
                f"its vectors were written with language correction {meta.correction!r}, and this version "
                f"computes {correction!r} for its model; index the folder again into a new collection "
                "(--collection NAME)"
            )
        if meta.feedback != feedback:
            return (
                f"it records feedback {meta.feedback!r}, not {feedback!r}; index the folder again into a "
                "new collection (--collection NAME)"
            )
        sparse = self.sparse.name if self.sparse else None
        if meta.sparse_encoder != sparse:
            return (
                f"it stores sparse vectors from {meta.sparse_encoder!r}, this run would use {sparse!r}; "
                "index into a new collection (--collection NAME)"
            )
        recorded = Chunking.recorded(meta.extra)
        if self.chunking is not None and recorded is not None and recorded != self.chunking:
            return (
                f"it was chunked with {recorded.as_extra()}, this run uses {self.chunking.as_extra()}: mixing "
                "both would leave overlapping chunks. Use the same settings or a new collection (--collection NAME)"
            )
        return None

    def check(self, meta: CollectionMeta, collection: str) -> None:
        reason = self.mismatch(meta)
        if reason:
            raise ModelMismatchError(f"Collection {collection!r}: {reason}.")

    def with_chunking(self, chunking: Chunking) -> VectorSpace:
        return replace(self, chunking=chunking)

    def without_vote(self) -> VectorSpace:
        return replace(self, feedback=None)

    def uncorrected(self) -> VectorSpace:
        return replace(self, correction=None, feedback=None)

    def with_queries(self, embedder: Embedder) -> VectorSpace:
        """The same space with queries embedded by ``embedder``: the same model under another query prompt
        or instruction. Passages keep the document prompt the collection records, so the stored vectors
        stay what they are; any other difference is refused."""
        mine = self.spec
        if replace(embedder.spec, query_prompt=mine.query_prompt, default_task=mine.default_task) != mine:
            raise ModelMismatchError(
                f"The collection was built with {mine.name!r}; only its query prompt may change."
            )
        return replace(self, embedder=embedder)
