"""The data that flows between indexer, store, searcher, evaluator and UI.

Frozen dataclasses so a value handed from one stage to the next cannot be
mutated behind the next stage's back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

UNDETERMINED = "und"  # ISO 639 code for "language could not be determined"
SECTION_SEPARATOR = "\n\n"


@dataclass(frozen=True)
class Section:
    """A structural block of a document (heading, paragraph, list item, table).

    Chunking follows these boundaries, so loaders keep them instead of
    flattening a document into one string.
    """

    text: str
    kind: str = "text"  # "title" | "text" | "list" | "table"
    page: int | None = None  # 1-based page or slide; None for formats without pages
    ocr: float | None = None  # read by OCR: the engine's mean word confidence (0-100); None: a text layer


@dataclass(frozen=True)
class Document:
    """One source file after text extraction."""

    source: str  # absolute POSIX path of the file
    root: str  # absolute POSIX path of the folder it was indexed from
    content_hash: str  # sha256 hex of the file bytes: what incremental re-indexing compares
    format: str  # "pdf" | "docx" | "pptx" | "html" | "md" | "txt" | "epub" | "image"
    sections: tuple[Section, ...]
    language: str = UNDETERMINED  # ISO 639-1, or "und"
    title: str = ""

    @property
    def relpath(self) -> str:
        return relative_source(self.source, self.root)

    @property
    def text(self) -> str:
        """Sections joined by blank lines; Chunk.start/end index into this string."""
        return SECTION_SEPARATOR.join(section.text for section in self.sections)


@dataclass(frozen=True)
class Chunk:
    """A piece of a document small enough for the model's token budget."""

    id: str  # uuid5(source, position, content hash): stable across re-index runs
    source: str
    root: str
    position: int  # 0-based index of the chunk within its document
    text: str
    page: int | None
    language: str  # language of this chunk (may differ from the document's)
    doc_language: str
    doc_hash: str  # Document.content_hash, to tell stale chunks from current ones
    # chunks in the document: lets a resumed run tell a complete file from a partial one. A long
    # file indexed part by part records it in its last part's chunks only (0 in the others).
    n_chunks: int
    heading: str = ""  # nearest title above the chunk, shown with results
    format: str = ""
    start: int = 0  # character span of the chunk in Document.text (overlaps with neighbours)
    end: int = 0
    tokens: int = 0  # model tokens of ``text`` as the chunker counted them (no prompt); 0 = not counted
    # The ids behind ``tokens`` when the model's tokenizer gave them: the model reuses them instead of
    # tokenising the text again. Not stored, not compared.
    token_ids: tuple[int, ...] | None = field(default=None, compare=False, repr=False)
    ocr: float | None = None  # text read by OCR: the lowest mean confidence of its pages (0-100)


@dataclass(frozen=True)
class Hit:
    """One search result, everything the UI and the evaluator need to show or score it."""

    chunk_id: str
    score: float
    text: str
    source: str
    page: int | None
    language: str
    position: int = 0
    heading: str = ""
    root: str = ""
    doc_language: str = UNDETERMINED
    ocr: float | None = None  # the passage was read by OCR, with this mean confidence (0-100)

    @property
    def relpath(self) -> str:
        return relative_source(self.source, self.root)


@dataclass(frozen=True)
class SparseVector:
    """Term ids and weights of a lexical (BM25) vector; the store supplies the IDF."""

    indices: tuple[int, ...]
    values: tuple[float, ...]


@dataclass(frozen=True)
class Query:
    qid: str
    text: str
    language: str = UNDETERMINED


@dataclass(frozen=True)
class CorpusDoc:
    doc_id: str
    text: str
    title: str = ""
    language: str = UNDETERMINED


@dataclass(frozen=True)
class QuerySet:
    """A labeled query set in BEIR form: corpus, queries with languages, graded qrels."""

    name: str
    corpus: Mapping[str, CorpusDoc]
    queries: Mapping[str, Query]
    qrels: Mapping[str, Mapping[str, int]]  # qid -> doc_id -> relevance grade (>0 = relevant)
    description: str = ""
    metadata: Mapping[str, str] = field(default_factory=dict)


def relative_source(source: str, root: str) -> str:
    """Path of a source below its root, for display; the source itself when it is not below it."""
    if root and source.startswith(root.rstrip("/") + "/"):
        return source[len(root.rstrip("/")) + 1 :]
    return source
