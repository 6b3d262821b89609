"""The payload codec: the one place that knows which fields a stored chunk carries.

Stores index some of these fields for filters and facets; the indexer reads a few
back to plan incremental runs; search turns a payload into a ``Hit``. All of them
spell field names through ``Field`` and build filters through the functions here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from search.core.types import UNDETERMINED, Chunk, Hit
from search.stores.base import ScoredPoint, SearchFilter


class Field(StrEnum):
    TEXT = "text"
    SOURCE = "source"  # absolute POSIX path of the file
    ROOT = "root"  # the folder it was indexed from
    POSITION = "position"
    PAGE = "page"
    LANGUAGE = "language"  # of the chunk
    DOC_LANGUAGE = "doc_language"
    DOC_HASH = "doc_hash"  # sha256 of the file's bytes: tells stale chunks from current ones
    N_CHUNKS = (
        "n_chunks"  # chunks of the file (the largest recorded): tells a complete file from a partial one
    )
    HEADING = "heading"
    FORMAT = "format"
    OCR = "ocr"  # read by OCR: the engine's mean word confidence (0-100); absent or null: a text layer
    MEAN = (
        "mean"  # id of the language mean the stored vector was corrected with (search.models.language_bias)
    )


# Keyword indexes every collection gets: filters (language, source, root), facets, stale-chunk deletes.
INDEXED_FIELDS: tuple[Field, ...] = (
    Field.LANGUAGE,
    Field.DOC_LANGUAGE,
    Field.SOURCE,
    Field.ROOT,
    Field.DOC_HASH,
)
# What an incremental run reads back of every stored chunk.
FILE_STATE_FIELDS: tuple[Field, ...] = (Field.SOURCE, Field.DOC_HASH, Field.N_CHUNKS)


def encode_chunk(chunk: Chunk, mean: str | None = None) -> dict[str, Any]:
    """The payload stored with a chunk (``mean``: the language mean its vector was corrected with)."""
    payload = {
        Field.TEXT: chunk.text,
        Field.SOURCE: chunk.source,
        Field.ROOT: chunk.root,
        Field.POSITION: chunk.position,
        Field.PAGE: chunk.page,
        Field.LANGUAGE: chunk.language,
        Field.DOC_LANGUAGE: chunk.doc_language,
        Field.DOC_HASH: chunk.doc_hash,
        Field.N_CHUNKS: chunk.n_chunks,
        Field.HEADING: chunk.heading,
        Field.FORMAT: chunk.format,
    }
    if chunk.ocr is not None:
        payload[Field.OCR] = round(chunk.ocr, 1)
    if mean is not None:
        payload[Field.MEAN] = mean
    return {key.value: value for key, value in payload.items()}  # plain str keys for every backend


def decode_hit(point: ScoredPoint) -> Hit:
    p = point.payload
    return Hit(
        chunk_id=point.id,
        score=float(point.score),
        text=str(p.get(Field.TEXT, "")),
        source=str(p.get(Field.SOURCE, "")),
        page=p.get(Field.PAGE),
        language=str(p.get(Field.LANGUAGE, UNDETERMINED)),
        position=int(p.get(Field.POSITION, 0)),
        heading=str(p.get(Field.HEADING, "")),
        root=str(p.get(Field.ROOT, "")),
        doc_language=str(p.get(Field.DOC_LANGUAGE, UNDETERMINED)),
        ocr=_confidence(p.get(Field.OCR)),
    )


def _confidence(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


@dataclass(frozen=True)
class StoredChunkState:
    """What an incremental run needs to know of one stored chunk."""

    source: str
    doc_hash: str
    n_chunks: int

    @classmethod
    def decode(cls, payload: Mapping[str, Any]) -> StoredChunkState:
        return cls(
            source=str(payload.get(Field.SOURCE, "")),
            doc_hash=str(payload.get(Field.DOC_HASH, "")),
            n_chunks=int(payload.get(Field.N_CHUNKS, 0)),
        )


# ---- filters in neutral form: each backend has exactly one function that turns them into its own type

Match = tuple[str, tuple[str, ...]]  # payload key, any of these keyword values


@dataclass(frozen=True)
class Conditions:
    """A filter in neutral form: every ``must`` match holds and no ``must_not`` match does."""

    must: tuple[Match, ...] = ()
    must_not: tuple[Match, ...] = ()


def search_conditions(flt: SearchFilter | None) -> Conditions | None:
    """The single place that maps SearchFilter fields to payload keys."""
    if flt is None or flt.is_empty():
        return None
    pairs = ((Field.LANGUAGE, flt.languages), (Field.SOURCE, flt.sources), (Field.ROOT, flt.roots))
    return Conditions(must=tuple((str(key), tuple(values)) for key, values in pairs if values))


def source_conditions(sources: Sequence[str]) -> Conditions:
    return Conditions(must=((str(Field.SOURCE), tuple(sources)),))


def stale_conditions(source: str, keep_hash: str) -> Conditions:
    return Conditions(must=((str(Field.SOURCE), (source,)),), must_not=((str(Field.DOC_HASH), (keep_hash,)),))
