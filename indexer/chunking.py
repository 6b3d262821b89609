"""Document -> Chunks that follow the document's structure and fit the model's token budget.

* A heading (a run of title sections) starts a new chunk; every chunk below it
  carries it as ``Chunk.heading``, and overlap never crosses it.
* A paragraph that fits is kept whole; small consecutive sections are packed
  together; a long one is cut at sentence ends, a long sentence at word (or,
  in CJK/Thai without spaces, character) windows.
* The next chunk starts with up to ``overlap_tokens`` of the previous chunk's
  trailing sentences.

Token counts come from the model's own tokenizer, in batches: one call for all
sentences, then one per round for the few texts whose count is not known
(windows of over-long sentences, packed chunks). Subword counts are not
additive (``count("a b") != count("a") + count("b")`` at joins), so packing
uses sums as an estimate and every packed chunk is counted for real; a chunk
over budget is halved until it fits. Guarantee: ``count_tokens([c.text])[0] <=
max_tokens`` for every chunk, unless a single character alone costs more.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from search.core.types import SECTION_SEPARATOR, UNDETERMINED, Chunk, Document
from search.models.embedder import TokenCounter
from search.text.language import detect_language
from search.text.sentences import Span, cluster_spans, sentence_spans, word_spans

NAMESPACE = uuid.UUID("43e9c743-c815-5e13-86e8-de7d9d89b12d")  # uuid5(URL, ".../chunk-id"); never change it
CHUNK_LANGUAGE_MIN_LETTERS = 40  # below this a chunk inherits its document's language
CHUNK_LANGUAGE_SAMPLE = (
    600  # characters; langdetect's cost grows with text, its accuracy stops growing well before
)


def chunk_id(source: str, position: int, text: str) -> str:
    """Same file, place and text -> same id, so re-indexing overwrites instead of duplicating."""
    digest = hashlib.sha256(text.encode("utf-8", errors="surrogatepass")).hexdigest()
    return str(uuid.uuid5(NAMESPACE, f"{source}\n{position}\n{digest}"))


@dataclass(frozen=True)
class _Unit:
    """A sentence (or window of one) that chunks are built from, as a span of Document.text."""

    start: int
    end: int
    section: int
    title: bool


class _Counts:
    """Token counts of spans of one text, fetched in batches and never twice."""

    def __init__(self, counter: TokenCounter, text: str) -> None:
        self._counter = counter
        self._text = text
        self._known: dict[Span, int] = {}

    def fetch(self, spans: Iterable[Span]) -> None:
        missing = list(dict.fromkeys(s for s in spans if s not in self._known))
        if missing:
            counts = self._counter.count_tokens([self._text[a:b] for a, b in missing])
            self._known.update(zip(missing, (int(c) for c in counts)))

    def __getitem__(self, span: Span) -> int:
        return self._known[span]


def chunk_document(doc: Document, counter: TokenCounter, max_tokens: int, overlap_tokens: int) -> list[Chunk]:
    """Chunks of ``doc`` whose bare text costs at most ``max_tokens`` tokens each.

    ``overlap_tokens`` is capped at half the budget, so every chunk is at least half new text.
    """
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be positive, got {max_tokens}")
    overlap = max(0, min(overlap_tokens, max_tokens // 2))
    text = doc.text
    counts = _Counts(counter, text)
    units = _fit(_sentence_units(doc), counts, max_tokens, text)
    groups = _settle(_pack(units, counts, max_tokens, overlap), counts, max_tokens)
    return _chunks(doc, groups, counts)


def _sentence_units(doc: Document) -> list[_Unit]:
    text = doc.text
    units: list[_Unit] = []
    offset = 0
    for index, section in enumerate(doc.sections):
        end = offset + len(section.text)
        title = section.kind == "title"
        units.extend(_Unit(a, b, index, title) for a, b in sentence_spans(text, offset, end))
        offset = end + len(SECTION_SEPARATOR)
    return units


def _fit(units: list[_Unit], counts: _Counts, max_tokens: int, text: str) -> list[_Unit]:
    """Replace every unit over budget by windows of its words, then of its characters."""
    counts.fetch((u.start, u.end) for u in units)
    for pieces_of in (word_spans, cluster_spans):
        over = [u for u in units if counts[u.start, u.end] > max_tokens]
        if not over:
            break
        pieces = {u: pieces_of(text, u.start, u.end) for u in over}
        counts.fetch(p for ps in pieces.values() for p in ps)
        windows = [
            g
            for u, ps in pieces.items()
            for g in _greedy([_Unit(a, b, u.section, u.title) for a, b in ps], counts, max_tokens)
        ]
        replacement: dict[_Unit, list[_Unit]] = {u: [] for u in over}
        parents = iter(over)  # windows come in document order, parent by parent
        parent = next(parents)
        for group in _settle(windows, counts, max_tokens):
            while group[0].start >= parent.end:
                parent = next(parents)
            replacement[parent].append(_Unit(group[0].start, group[-1].end, parent.section, parent.title))
        units = [w for u in units for w in (replacement.get(u) or [u])]
    return units


def _greedy(pieces: list[_Unit], counts: _Counts, max_tokens: int) -> list[list[_Unit]]:
    """Consecutive pieces packed by summed counts (an estimate the caller verifies)."""
    groups: list[list[_Unit]] = []
    current: list[_Unit] = []
    total = 0
    for piece in pieces:
        cost = counts[piece.start, piece.end]
        if current and total + cost > max_tokens:
            groups.append(current)
            current, total = [], 0
        current.append(piece)
        total += cost
    if current:
        groups.append(current)
    return groups


def _pack(units: list[_Unit], counts: _Counts, max_tokens: int, overlap: int) -> list[list[_Unit]]:
    """Group units into chunks: headings start chunks, whole paragraphs when they fit, overlap carried."""
    groups: list[list[_Unit]] = []
    current: list[_Unit] = []
    total = 0

    def cost(group: Sequence[_Unit]) -> int:
        return sum(counts[u.start, u.end] for u in group)

    def close(carry_into: int) -> None:
        """End the current chunk; start the next with trailing sentences that leave room for ``carry_into``."""
        nonlocal current, total
        if current:
            groups.append(current)
        carried = _carry(current, counts, min(overlap, max_tokens - carry_into)) if carry_into >= 0 else []
        current, total = carried, cost(carried)

    for section in _by_section(units):
        if section[0].title and current and not current[-1].title:
            close(-1)  # a heading: new chunk, nothing carried across it
        size = cost(section)
        if total + size <= max_tokens:
            current.extend(section)
            total += size
            continue
        if size <= max_tokens and any(not u.title for u in current):
            close(size)  # keep the paragraph whole in the next chunk
            current.extend(section)
            total += size
            continue
        for unit in section:  # too long for any chunk (or only a heading so far): fill sentence by sentence
            unit_cost = counts[unit.start, unit.end]
            if current and total + unit_cost > max_tokens:
                close(unit_cost if unit_cost <= max_tokens else -1)
            current.append(unit)
            total += unit_cost
    if current:
        groups.append(current)
    return groups


def _carry(closed: list[_Unit], counts: _Counts, budget: int) -> list[_Unit]:
    """Trailing non-heading sentences of a closed chunk worth at most ``budget`` tokens."""
    carried: list[_Unit] = []
    total = 0
    for unit in reversed(closed[1:]):  # never the whole chunk: the next one must add something new
        c = counts[unit.start, unit.end]
        if unit.title or total + c > budget:
            break
        carried.append(unit)
        total += c
    return carried[::-1]


def _by_section(units: list[_Unit]) -> list[list[_Unit]]:
    sections: list[list[_Unit]] = []
    for unit in units:
        if sections and sections[-1][0].section == unit.section:
            sections[-1].append(unit)
        else:
            sections.append([unit])
    return sections


def _settle(groups: list[list[_Unit]], counts: _Counts, max_tokens: int) -> list[list[_Unit]]:
    """Count every group's real text (one batch per round) and halve those over budget."""
    pending = groups
    while True:
        counts.fetch((g[0].start, g[-1].end) for g in pending)
        over = [g for g in pending if len(g) > 1 and counts[g[0].start, g[-1].end] > max_tokens]
        if not over:
            return groups
        halves: dict[int, list[list[_Unit]]] = {id(g): _halve(g, counts) for g in over}
        groups = [h for g in groups for h in halves.get(id(g), [g])]
        pending = [h for hs in halves.values() for h in hs]


def _halve(group: list[_Unit], counts: _Counts) -> list[list[_Unit]]:
    total = sum(counts[u.start, u.end] for u in group)
    running = 0
    for i, unit in enumerate(group[:-1], start=1):
        running += counts[unit.start, unit.end]
        if running * 2 >= total:
            return [group[:i], group[i:]]
    return [group[:-1], group[-1:]]


def _chunks(doc: Document, groups: list[list[_Unit]], counts: _Counts) -> list[Chunk]:
    text = doc.text
    headings = _headings(doc)
    n = len(groups)
    chunks: list[Chunk] = []
    for position, group in enumerate(groups):
        start, end = group[0].start, group[-1].end
        chunk_text = text[start:end]
        content = next((u for u in group if not u.title), group[-1])
        chunks.append(
            Chunk(
                id=chunk_id(doc.source, position, chunk_text),
                source=doc.source,
                root=doc.root,
                position=position,
                text=chunk_text,
                page=doc.sections[group[0].section].page,
                language=_chunk_language(chunk_text, doc.language),
                doc_language=doc.language,
                doc_hash=doc.content_hash,
                n_chunks=n,
                heading=headings[content.section],
                format=doc.format,
                start=start,
                end=end,
                tokens=counts[start, end],  # _settle counted every final group; the indexer batches by it
            )
        )
    return chunks


def _headings(doc: Document) -> list[str]:
    """For each section, the nearest title at or above it."""
    out: list[str] = []
    heading = ""
    for section in doc.sections:
        if section.kind == "title":
            heading = section.text
        out.append(heading)
    return out


def _chunk_language(text: str, doc_language: str) -> str:
    language = detect_language(text[:CHUNK_LANGUAGE_SAMPLE], min_letters=CHUNK_LANGUAGE_MIN_LETTERS)
    return doc_language if language == UNDETERMINED else language
