"""HTML as a stream of sections, without ever holding its tree: the one HTML path (files of any size,
EPUB chapters).

unstructured parses a page whole and classifies every element by its whole text;
a 10 MB page that is one ``<p>`` took about 330 MB that way, and the cost grows
with the file. HTML is therefore read by lxml's event interface: the decoded text
is fed to libxml2's HTML parser block by block, and a parser target turns
start/end/data events into sections as they close (headings ``<h1>``-``<h6>`` are
titles, ``<li>`` list items, table rows ``cell | cell`` lines, other blocks text;
scripts and styles are dropped). Text longer than LONG_TEXT_CHARS is emitted in
pieces, so a single element of any size costs no more than a part. Small files
went through unstructured until issue 24 (two paths chosen by size): on the sample
corpus both gave the same sections; on the Debian Reference the same sections with
cleaner spacing around inline markup (no space before a comma that followed a link).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from lxml import etree

from indexer.extract.textnorm import normalize_text
from indexer.extract.textstream import PART_CHARS, TextEncoding, decoded_blocks
from search.core.types import Section
from search.text.sentences import window_spans

LONG_TEXT_CHARS = 100_000  # a longer run of text is emitted in pieces (nothing that long is a heading)
TITLE_SEARCH_CHARS = 1 << 16
_TITLE_MAX_CHARS = 300
_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_BLOCK_NAMES = (  # a line of tag names reads better than 37 quoted items
    "address article aside blockquote body caption dd details dialog div dl dt fieldset figcaption "
    "figure footer form header hr html li main nav ol p pre section summary table tbody td tfoot th "
    "thead tr ul"
)
_BLOCKS = frozenset(_BLOCK_NAMES.split(" ")) | _HEADINGS
_SKIPPED = frozenset({"script", "style", "noscript", "template", "svg", "math", "select", "head"})


def html_parts(
    path: Path, encoding: TextEncoding, part_chars: int = PART_CHARS
) -> Iterator[tuple[Section, ...]]:
    """Sections of the page in groups of about ``part_chars`` characters, in reading order."""
    target = _Sections()
    parser = etree.HTMLParser(target=target, recover=True, no_network=True, remove_comments=True)
    step = max(4096, part_chars // 4)  # fed in slices, so a part is never much more than part_chars
    for block in decoded_blocks(path, encoding):
        for start in range(0, len(block), step):
            parser.feed(block[start : start + step])
            if target.size >= part_chars:
                yield target.take()
    parser.close()
    rest = target.take()
    if rest:
        yield rest


def html_sections(markup: str) -> tuple[Section, ...]:
    """Sections of one HTML/XHTML string (an EPUB chapter), as ``html_parts`` reads a file."""
    markup = re.sub(r"^\s*<\?xml[^>]*\?>", "", markup)  # lxml refuses str input with an encoding declaration
    target = _Sections()
    parser = etree.HTMLParser(target=target, recover=True, no_network=True, remove_comments=True)
    parser.feed(markup)
    parser.close()
    return target.take()


def html_title(path: Path, encoding: TextEncoding) -> str:
    """The page's <title>, looked for in the first block only (it belongs in the head)."""
    target = _Sections()
    parser = etree.HTMLParser(target=target, recover=True, no_network=True)
    parser.feed(next(decoded_blocks(path, encoding), "")[:TITLE_SEARCH_CHARS])
    return normalize_text(target.title or "")


class _Sections:
    """An lxml parser target collecting closed sections; ``take`` hands them over."""

    def __init__(self) -> None:
        self.done: list[Section] = []
        self.size = 0  # characters in ``done``
        self.title: str | None = None
        self._text: list[str] = []
        self._chars = 0
        self._skipping = 0
        self._in_title = False
        self._title_text: list[str] = []
        self._table = 0
        self._pre = 0  # inside <pre>: its lines stay lines (commands, config files, listings)
        self._row: list[str] = []
        self._rows: list[str] = []

    def take(self) -> tuple[Section, ...]:
        """The sections closed so far (text of an element still open waits for its end)."""
        done, self.done, self.size = tuple(self.done), [], 0
        return done

    # -- parser target interface (called by lxml) ---------------------------------------------------

    def start(self, tag: str, attrib: object) -> None:
        tag = str(tag).lower()
        if tag == "title" and self.title is None:
            self._in_title = True
            return
        if tag in _SKIPPED:
            self._skipping += 1
            return
        if tag == "br" and not self._skipping:  # a line break inside a block, not a block of its own
            self.data("\n" if self._pre else " ")
            return
        if tag in _BLOCKS and not self._skipping:
            self._flush_cell_or_text(tag)
            if tag == "table":
                self._table += 1
            elif tag == "pre":
                self._pre += 1

    def end(self, tag: str) -> None:
        tag = str(tag).lower()
        if tag == "title" and self._in_title:
            self._in_title = False
            self.title = " ".join("".join(self._title_text).split())
            return
        if tag in _SKIPPED:
            self._skipping = max(0, self._skipping - 1)
            return
        if self._skipping or tag not in _BLOCKS:
            return
        if self._table and tag not in ("td", "th", "tr", "table"):
            self._text.append(" ")  # the end of a paragraph or list item inside a cell
            if tag == "pre":
                self._pre = max(0, self._pre - 1)
            return
        if self._table and tag in ("td", "th"):
            self._row.append(self._take_text())
        elif self._table and tag == "tr":
            self._close_row()
        elif tag == "table":
            self._close_row()
            self._table = max(0, self._table - 1)
            if not self._table:
                self._flush_rows()
        elif tag in _HEADINGS:
            self._flush("title")
        elif tag == "li":
            self._flush("list")
        else:
            self._flush("text")
        if tag == "pre":
            self._pre = max(0, self._pre - 1)

    def data(self, text: str) -> None:
        if self._in_title:
            self._title_text.append(text)
            return
        if self._skipping:
            return
        self._text.append(text)
        self._chars += len(text)
        if self._chars > LONG_TEXT_CHARS:
            self._emit_long()

    def comment(self, text: str) -> None:
        pass

    def close(self) -> None:
        self._flush("text")
        self._flush_rows()

    # -- helpers ------------------------------------------------------------------------------------

    def _flush_cell_or_text(self, tag: str) -> None:
        """Text before a nested block belongs to the block around it, and ends there; inside a table
        cell, blocks (paragraphs, list items) stay in the cell, separated by a space."""
        if self._table and tag in ("td", "th", "tr", "table"):
            return
        if self._table:
            self._text.append(" ")
        else:
            self._flush("text")

    def _take_text(self) -> str:
        raw = "".join(self._text)
        self._text, self._chars = [], 0
        if self._pre:
            return "\n".join(" ".join(line.split()) for line in raw.splitlines() if line.strip())
        return " ".join(raw.split())

    def _flush(self, kind: str) -> None:
        if self._table:  # text in a table stays in its cell
            return
        text = normalize_text(self._take_text())
        if not text:
            return
        if kind == "title" and ("\n" in text or len(text) > _TITLE_MAX_CHARS):
            kind = "text"
        self._add(Section(text, kind=kind))

    def _emit_long(self) -> None:
        """Emit all but the last few words of an over-long run of text as sections of its own."""
        text = "".join(self._text)
        pieces = window_spans(text, 0, len(text), LONG_TEXT_CHARS)
        keep_from = pieces[-1][0] if pieces else len(text)
        for a, b in pieces[:-1]:
            piece = normalize_text(" ".join(text[a:b].split()))
            if piece:
                self._add(Section(piece, kind="text"))
        self._text = [text[keep_from:]]
        self._chars = len(self._text[0])

    def _close_row(self) -> None:
        # Text of the row outside its cells (whitespace, mostly).
        rest = self._take_text() if self._text else ""
        if rest:
            self._row.append(rest)
        while self._row and not self._row[-1]:  # trailing empty cells (layout columns) say nothing
            self._row.pop()
        if any(self._row):
            self._rows.append(" | ".join(self._row))
        self._row = []
        if sum(len(row) for row in self._rows) > LONG_TEXT_CHARS:
            self._flush_rows()

    def _flush_rows(self) -> None:
        if self._rows:
            text = normalize_text("\n".join(self._rows))
            self._rows = []
            if text:
                self._add(Section(text, kind="table"))

    def _add(self, section: Section) -> None:
        self.done.append(section)
        self.size += len(section.text)
