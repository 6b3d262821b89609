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

The working set stays small whatever the text's shape: no span longer than
``LONG_SPAN_CHARS_PER_TOKEN * max_tokens`` characters is ever tokenised (a 10 MB
line is first cut into windows at spaces, or between characters), the tokenizer
gets at most ``COUNT_BATCH_CHARS`` characters per call, and over-long sentences
are split into word or character windows ``FIT_GROUP_CHARS`` at a time, their
per-word counts dropped once the windows are known. (Before, a 10 MB line
without spaces took 12 GB: ten million one-character counts held at once.)
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import pairwise

from search.core.types import SECTION_SEPARATOR, UNDETERMINED, Chunk, Document, Section
from search.models.embedder import TokenCounter, TokenizedDocuments
from search.text.language import DEFAULT_DETECTOR, LanguageDetector, detect_language
from search.text.sentences import Span, cluster_boundary, sentence_spans, trim_span, window_spans, word_spans

NAMESPACE = uuid.UUID("43e9c743-c815-5e13-86e8-de7d9d89b12d")  # uuid5(URL, ".../chunk-id"); never change it
CHUNK_LANGUAGE_MIN_LETTERS = 40  # below this a chunk inherits its document's language
CHUNK_LANGUAGE_SAMPLE = (
    600  # characters; langdetect's cost grows with text, its accuracy stops growing well before
)
# A sentence longer than this many characters per budget token cannot fit a chunk (subword pieces
# are far shorter), so it is cut into windows of that size before anything counts its tokens.
LONG_SPAN_CHARS_PER_TOKEN = 32
COUNT_BATCH_CHARS = 1 << 18  # characters per tokenizer call
COUNT_BATCH_TEXTS = 8192  # texts per tokenizer call (each becomes an encoding object)
FIT_GROUP_CHARS = 1 << 16  # over-long text split into word/character windows this much at a time


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
    """Token counts of spans of one text, fetched in bounded batches and never twice.

    With a counter that gives ids (``TokenizedDocuments``), the ids of every span a chunk may
    be made of are kept too, so the model gets each chunk's ids without tokenising it again.
    Scratch counts (the words of one over-long sentence) keep ids only for the windows
    _settle verifies, so a 10 MB line never holds ids for its ten million words.
    """

    def __init__(self, counter: TokenCounter, text: str, keep_ids: bool = True) -> None:
        self._counter = counter
        self._text = text
        self._known: dict[Span, int] = {}
        self._tokenized = counter if isinstance(counter, TokenizedDocuments) else None
        self._keep_ids = keep_ids and self._tokenized is not None
        self._ids: dict[Span, list[int]] = {}

    def fetch(self, spans: Iterable[Span], with_ids: bool = False) -> None:
        want_ids = (with_ids or self._keep_ids) and self._tokenized is not None
        missing = list(
            dict.fromkeys(s for s in spans if s not in self._known or (want_ids and s not in self._ids))
        )
        for batch in _batches(missing):
            texts = [self._text[a:b] for a, b in batch]
            if want_ids and self._tokenized is not None:
                ids = self._tokenized.token_ids(texts)
                self._ids.update(zip(batch, ids))
                self._known.update(zip(batch, (len(i) for i in ids)))
            else:
                counts = self._counter.count_tokens(texts)
                self._known.update(zip(batch, (int(c) for c in counts)))

    def scratch(self) -> _Counts:
        """Counts for short-lived spans (the words of one over-long sentence), dropped with it."""
        return _Counts(self._counter, self._text, keep_ids=False)

    def adopt(self, other: _Counts, span: Span) -> None:
        self._known[span] = other[span]
        if span in other._ids:
            self._ids[span] = other._ids[span]

    def subset(self, spans: Iterable[Span]) -> _Counts:
        """A scratch copy keeping only ``spans`` (the words of a window still open)."""
        kept = self.scratch()
        kept._known = {span: self._known[span] for span in spans if span in self._known}
        return kept

    def ids(self, span: Span) -> tuple[int, ...] | None:
        found = self._ids.get(span)
        return None if found is None else tuple(found)

    def __getitem__(self, span: Span) -> int:
        return self._known[span]


def _batches(spans: list[Span]) -> Iterator[list[Span]]:
    """Spans in runs of at most COUNT_BATCH_CHARS characters and COUNT_BATCH_TEXTS texts."""
    batch: list[Span] = []
    chars = 0
    for span in spans:
        if batch and (chars + span[1] - span[0] > COUNT_BATCH_CHARS or len(batch) >= COUNT_BATCH_TEXTS):
            yield batch
            batch, chars = [], 0
        batch.append(span)
        chars += span[1] - span[0]
    if batch:
        yield batch


def chunk_document(
    doc: Document,
    counter: TokenCounter,
    max_tokens: int,
    overlap_tokens: int,
    *,
    first_position: int = 0,
    n_chunks: int | None = None,
    detector: LanguageDetector = DEFAULT_DETECTOR,
) -> list[Chunk]:
    """Chunks of ``doc`` whose bare text costs at most ``max_tokens`` tokens each.

    ``overlap_tokens`` is capped at half the budget, so every chunk is at least half new text.
    For one part of a longer file, ``first_position`` continues the numbering of the parts before
    it and ``n_chunks`` is what the chunks record as the file's total (default: this document's).
    ``detector`` tells each chunk's language (search.text.language). When ``counter`` gives token
    ids, each chunk carries its own (``Chunk.token_ids``) for the model.
    """
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be positive, got {max_tokens}")
    overlap = max(0, min(overlap_tokens, max_tokens // 2))
    text = doc.text
    counts = _Counts(counter, text)
    units = _fit(_sentence_units(doc, text), counts, max_tokens, text)
    groups = _settle(_pack(units, counts, max_tokens, overlap), counts, max_tokens)
    return _chunks(doc, text, groups, counts, first_position, n_chunks, detector)


def _sentence_units(doc: Document, text: str) -> list[_Unit]:
    units: list[_Unit] = []
    offset = 0
    for index, section in enumerate(doc.sections):
        end = offset + len(section.text)
        title = section.kind == "title"
        units.extend(_Unit(a, b, index, title) for a, b in sentence_spans(text, offset, end))
        offset = end + len(SECTION_SEPARATOR)
    return units


def _fit(units: list[_Unit], counts: _Counts, max_tokens: int, text: str) -> list[_Unit]:
    """Replace every unit over budget by windows of its words, then of its characters.

    A unit longer than ``longest`` characters is over budget without being counted.
    """
    longest = max(1024, LONG_SPAN_CHARS_PER_TOKEN * max_tokens)
    counts.fetch((u.start, u.end) for u in units if u.end - u.start <= longest)

    def over(unit: _Unit) -> bool:
        return unit.end - unit.start > longest or counts[unit.start, unit.end] > max_tokens

    for split in (_word_windows, _character_windows):
        replacement = {u: split(u, counts, max_tokens, text, longest) for u in units if over(u)}
        if not replacement:
            break
        units = [w for u in units for w in (replacement.get(u) or [u])]
    return units


def _word_windows(unit: _Unit, counts: _Counts, max_tokens: int, text: str, longest: int) -> list[_Unit]:
    """Consecutive words packed greedily into windows within budget (each verified by _settle).

    The unit is read FIT_GROUP_CHARS at a time and the words' own counts are dropped once
    their windows are closed, so a 10 MB line never has more than a window's worth of words
    counted at once. A "word" longer than ``longest`` characters is cut into windows of that
    size first (they end up over budget and go on to be split between characters).
    """
    windows: list[_Unit] = []
    local = counts.scratch()
    current: list[_Unit] = []  # the window being filled, carried from one stretch to the next
    total = 0
    for a, b in window_spans(text, unit.start, unit.end, FIT_GROUP_CHARS):
        words = [
            piece
            for x, y in word_spans(text, a, b)
            for piece in ([(x, y)] if y - x <= longest else window_spans(text, x, y, longest))
        ]
        local.fetch(words)
        closed: list[list[_Unit]] = []
        for x, y in words:
            cost = local[x, y]
            if current and total + cost > max_tokens:
                closed.append(current)
                current, total = [], 0
            current.append(_Unit(x, y, unit.section, unit.title))
            total += cost
        windows.extend(_settled_windows(closed, unit, local, counts, max_tokens))
        local = local.subset((u.start, u.end) for u in current)
    windows.extend(_settled_windows([current] if current else [], unit, local, counts, max_tokens))
    return windows


def _character_windows(unit: _Unit, counts: _Counts, max_tokens: int, text: str, longest: int) -> list[_Unit]:
    """Windows of whole user-perceived characters within budget, for text without usable spaces.

    An over-budget span is cut into equal stretches that should each fit (between characters,
    never inside one), and only the stretches still over budget are cut again: a few counts
    per window instead of one per character (a 10 MB line without spaces took 200 s that way).
    """
    local = counts.scratch()
    spans = [(unit.start, unit.end)]
    if unit.end - unit.start > longest:
        spans = window_spans(text, unit.start, unit.end, longest)
    local.fetch(spans)
    pieces: list[Span] = []
    while spans:
        pieces.extend(s for s in spans if local[s] <= max_tokens)
        spans_over = [s for s in spans if local[s] > max_tokens]
        spans = []
        for span in spans_over:
            stretches = _even_stretches(text, span, local[span], max_tokens)
            if len(stretches) == 1:
                pieces.append(span)  # one character that alone costs more than the budget
            else:
                spans.extend(stretches)
        local.fetch(spans)
    pieces.sort()
    groups = _greedy([_Unit(a, b, unit.section, unit.title) for a, b in pieces], local, max_tokens)
    return _settled_windows(groups, unit, local, counts, max_tokens)


def _even_stretches(text: str, span: Span, tokens: int, max_tokens: int) -> list[Span]:
    """``span`` cut between characters into stretches of about 90 % of the budget each."""
    a, b = span
    parts = max(2, -(-tokens * 10 // (max_tokens * 9)))
    cuts = [a]
    for i in range(1, parts):
        aim = a + (b - a) * i // parts
        after = aim
        while after < b and not cluster_boundary(text, after):
            after += 1
        before = aim
        while before > cuts[-1] and not cluster_boundary(text, before):
            before -= 1
        candidates = [c for c in (after, before) if cuts[-1] < c < b]
        if candidates:
            cuts.append(min(candidates, key=lambda c: abs(c - aim)))
    cuts.append(b)
    return [t for t in (trim_span(text, x, y) for x, y in pairwise(cuts)) if t[0] < t[1]]


def _settled_windows(
    groups: list[list[_Unit]], parent: _Unit, local: _Counts, counts: _Counts, max_tokens: int
) -> list[_Unit]:
    """Groups of pieces verified within budget (_settle), as units of ``parent`` with known counts."""
    windows = []
    for group in _settle(groups, local, max_tokens):
        window = _Unit(group[0].start, group[-1].end, parent.section, parent.title)
        counts.adopt(local, (window.start, window.end))  # _settle counted every group
        windows.append(window)
    return windows


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
        counts.fetch(((g[0].start, g[-1].end) for g in pending), with_ids=True)
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


def _chunks(
    doc: Document,
    text: str,
    groups: list[list[_Unit]],
    counts: _Counts,
    first_position: int = 0,
    n_chunks: int | None = None,
    detector: LanguageDetector = DEFAULT_DETECTOR,
) -> list[Chunk]:
    headings = _headings(doc)
    n = len(groups) if n_chunks is None else n_chunks
    chunks: list[Chunk] = []
    for position, group in enumerate(groups, start=first_position):
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
                language=_chunk_language(chunk_text, doc.language, detector),
                doc_language=doc.language,
                doc_hash=doc.content_hash,
                n_chunks=n,
                heading=headings[content.section],
                format=doc.format,
                start=start,
                end=end,
                tokens=counts[start, end],  # _settle counted every final group; the indexer batches by it
                token_ids=counts.ids((start, end)),
                ocr=_ocr_confidence(doc.sections[unit.section] for unit in group),
            )
        )
    return chunks


def _ocr_confidence(sections: Iterable[Section]) -> float | None:
    """A chunk holding any text read by OCR is marked with the lowest confidence of its pages."""
    found = [section.ocr for section in sections if section.ocr is not None]
    return min(found) if found else None


def _headings(doc: Document) -> list[str]:
    """For each section, the nearest title at or above it."""
    out: list[str] = []
    heading = ""
    for section in doc.sections:
        if section.kind == "title":
            heading = section.text
        out.append(heading)
    return out


def _chunk_language(text: str, doc_language: str, detector: LanguageDetector = DEFAULT_DETECTOR) -> str:
    """Each chunk's own language (a German document may quote English), the document's when unsure.

    Told for every chunk rather than inherited: the language correction (search/models/
    language_bias.py) picks its per-language mean by it, and with fastText it costs about
    0.2 ms a chunk (langdetect: 2.7 ms).
    """
    language = detect_language(
        text[:CHUNK_LANGUAGE_SAMPLE], min_letters=CHUNK_LANGUAGE_MIN_LETTERS, detector=detector
    )
    return doc_language if language == UNDETERMINED else language
